"""robustlab.stats: bootstrap CIs, exact paired tests, corrections, robustness metrics.

Pure numpy/scipy/polars; every random function takes an explicit `numpy.random.Generator`.
What each number means: docs/statistics.md.
"""

from robustlab.stats.bootstrap import (
    Interval,
    accuracy_ci,
    accuracy_cis,
    paired_difference_ci,
    paired_difference_cis,
)
from robustlab.stats.correction import Correction, adjust, benjamini_hochberg, holm
from robustlab.stats.curves import curve_table, robustness_table
from robustlab.stats.frames import accuracy_table, pairwise_table
from robustlab.stats.hidden import hidden_failures
from robustlab.stats.mcnemar import McNemar, mcnemar_exact, mcnemar_exact_counts
from robustlab.stats.robustness import effective_robustness, relative_robustness

__all__ = [
    "Correction",
    "Interval",
    "McNemar",
    "accuracy_ci",
    "accuracy_cis",
    "accuracy_table",
    "adjust",
    "benjamini_hochberg",
    "curve_table",
    "effective_robustness",
    "hidden_failures",
    "holm",
    "mcnemar_exact",
    "mcnemar_exact_counts",
    "paired_difference_ci",
    "paired_difference_cis",
    "pairwise_table",
    "relative_robustness",
    "robustness_table",
]
