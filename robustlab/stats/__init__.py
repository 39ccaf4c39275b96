"""robustlab.stats: intervals and tests for accuracies and paired differences, corrections,
robustness metrics, hidden failures, and the three-way verdicts of declared contrasts.

Pure numpy/scipy/polars; every random function takes an explicit `numpy.random.Generator`.
What each number means and which procedure makes it: docs/statistics.md.
"""

from robustlab.stats.binomial import clopper_pearson, score_p, tango
from robustlab.stats.bootstrap import Interval, paired_bootstrap_ci, paired_bootstrap_cis
from robustlab.stats.contrasts import ConditionInfo, Contrast, ContrastError
from robustlab.stats.contrasts import resolve as resolve_contrasts
from robustlab.stats.correction import Correction, adjust, benjamini_hochberg, holm
from robustlab.stats.curves import curve_table, robustness_table
from robustlab.stats.frames import accuracy_table, pairwise_table
from robustlab.stats.hidden import hidden_failures
from robustlab.stats.mcnemar import McNemar, mcnemar_exact, mcnemar_exact_counts
from robustlab.stats.paired import Comparison, paired_comparison, paired_comparisons
from robustlab.stats.proportions import accuracy_ci, accuracy_cis
from robustlab.stats.robustness import (
    effective_robustness,
    guard_effective_robustness,
    relative_robustness,
)
from robustlab.stats.simulate import StudyModel, simulate
from robustlab.stats.verdict_table import FamilyError, VerdictTable, verdict_table

__all__ = [
    "Comparison",
    "ConditionInfo",
    "Contrast",
    "ContrastError",
    "Correction",
    "FamilyError",
    "Interval",
    "McNemar",
    "StudyModel",
    "VerdictTable",
    "accuracy_ci",
    "accuracy_cis",
    "accuracy_table",
    "adjust",
    "benjamini_hochberg",
    "clopper_pearson",
    "curve_table",
    "effective_robustness",
    "guard_effective_robustness",
    "hidden_failures",
    "holm",
    "mcnemar_exact",
    "mcnemar_exact_counts",
    "paired_bootstrap_ci",
    "paired_bootstrap_cis",
    "paired_comparison",
    "paired_comparisons",
    "pairwise_table",
    "relative_robustness",
    "resolve_contrasts",
    "robustness_table",
    "score_p",
    "simulate",
    "tango",
    "verdict_table",
]
