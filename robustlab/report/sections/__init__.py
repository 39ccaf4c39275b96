"""The report's sections, in page order (issue 6). Each module has
`build(results, analysis) -> Section` and a template `templates/sections/<id>.html.j2`."""

from __future__ import annotations

from collections.abc import Callable

from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections import (
    curves,
    failures,
    fairness,
    overview,
    pairwise,
    provenance,
)
from robustlab.report.sections.base import Section

Builder = Callable[[Results, Analysis], Section]

BUILDERS: tuple[Builder, ...] = (
    overview.build,
    failures.build,
    curves.build,
    pairwise.build,
    fairness.build,
    provenance.build,
)

__all__ = ["BUILDERS", "Builder", "Section"]
