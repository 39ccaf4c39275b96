"""The self-contained HTML robustness report (issue 6, DESIGN §11).

`render_report(results_dir)` reads only the results files of `robustlab.results` and writes one
`report.html` with inline CSS, inline SVG charts and embedded JSON — nothing it shows needs the
network. Command line: `python -m robustlab.report reports/<study>`.
"""

from robustlab.report.inputs import ReportInputError
from robustlab.report.render import render_report

__all__ = ["ReportInputError", "render_report"]
