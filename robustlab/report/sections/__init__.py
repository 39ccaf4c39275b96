"""The report's sections, in page order (issues 6 and 15: the verdict first, then hidden
failures and discovered slices (issue 23), then the details). Each module has
`build(results, analysis) -> Section` and a template `templates/sections/<id>.html.j2`."""

from __future__ import annotations

from collections.abc import Callable

from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections import (
    curves,
    discovered,
    failures,
    fairness,
    overview,
    pairwise,
    provenance,
    slices,
    verdict,
)
from robustlab.report.sections.base import Section

Builder = Callable[[Results, Analysis], Section]

BUILDERS: tuple[Builder, ...] = (
    verdict.build,
    failures.build,
    discovered.build,
    overview.build,
    curves.build,
    slices.build,
    pairwise.build,
    fairness.build,
    provenance.build,
)

__all__ = ["BUILDERS", "Builder", "Section"]
