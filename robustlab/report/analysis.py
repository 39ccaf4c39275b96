"""Every statistic the report shows, computed once from the predictions frame.

The report's settings come from the manifest's resolved study spec (`study.report`: slices,
alpha, correction, and optionally reference, min_slice_size, n_resamples); each statistic gets
its own generator spawned from the report seed, so adding a section never changes the numbers
of another. Families: the per-condition pairwise table is confirmatory (the study's correction,
Holm by default; `none` reports raw p-values there); the per-slice pairwise table is an
exploratory screen (Benjamini–Hochberg); hidden failures use the study's correction, and Holm
when the study says `none` — a search over every slice is never reported uncorrected.

Pairwise intervals are at level 1 − alpha so that "interval excludes 0" and "p < alpha" are the
same statement (docs/statistics.md). Effective robustness is withheld for methods whose clean
accuracy interval reaches the study's chance level (`chance.py`).

Discovered slices (`discovery.py`, `report.discovery`): searched in every report unless the
study turns it off; the reversals it looks for are those of the confirmatory pairwise table.

Slices (`slicing.py`): the study's `report.slices` (a column, or `{column, bins}` for quantile
bins of a numeric column); an empty list (the default) searches `perturbed_modality`,
`observed`, every metadata column with at most 20 distinct values and every numeric one with
more, in quartiles. Binned columns are cut once and the bins used everywhere: the per-slice
accuracy table, the per-slice pairwise screen and the hidden-failure search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import polars as pl

from robustlab import stats
from robustlab.report import discovery
from robustlab.report.chance import Chance, chance_level
from robustlab.report.inputs import ReportInputError, Results
from robustlab.report.slicing import MISSING_LABEL, SliceSpec, parse_slices, with_bins
from robustlab.results import MANIFEST_FILE, PREDICTION_COLUMNS
from robustlab.stats.discovery import Discovery
from robustlab.stats.discovery_options import DiscoveryOptions

CORRECTIONS = ("holm", "bh", "none")
StudyCorrection = Literal["holm", "bh", "none"]


@dataclass(frozen=True)
class Settings:
    """How the statistics are computed; see the module docstring for where each comes from."""

    slices: tuple[SliceSpec, ...]
    alpha: float = 0.05
    correction: StudyCorrection = "holm"
    reference: str = ""
    min_slice_size: int = 30
    n_resamples: int = 10_000
    seed: int = 0  # the report seed: fixes every bootstrap interval
    discovery: DiscoveryOptions = field(default_factory=DiscoveryOptions)  # report.discovery


@dataclass(frozen=True)
class Analysis:
    """The statistics frames (columns: the docstrings of `robustlab.stats.frames`/`hidden`)."""

    settings: Settings
    accuracy: pl.DataFrame  # by condition
    pairwise: pl.DataFrame  # by condition; confirmatory family
    slice_pairwise: pl.DataFrame | None  # by condition, slice_column, slice_value; BH screen
    curves: pl.DataFrame
    robustness: pl.DataFrame  # with clean_ci_low and er_note (the near-chance guard)
    hidden: pl.DataFrame | None  # None when the study names no slice column
    chance: Chance
    seeds: dict[str, int]  # training seeds per method
    # accuracy by condition, slice_column, slice_value (None without slices); slice values
    # as strings (bins as their labels), in display order per column (`value_order`)
    slice_accuracy: pl.DataFrame | None = None
    value_order: dict[str, list[str]] | None = None
    discovered: Discovery | None = None  # None when the study turned discovery off


def settings_from(results: Results, seed: int = 0) -> Settings:
    """Read and validate `study.report` of the manifest (absent keys take the defaults)."""
    spec = results.study.get("report", {})
    where = f"{results.folder / MANIFEST_FILE}: study.report"
    if not isinstance(spec, dict):
        raise ReportInputError(f"{where} must be an object, got {type(spec).__name__}")
    alpha = _number(spec, "alpha", 0.05, where)
    if not 0.0 < alpha < 1.0:
        raise ReportInputError(f"{where}.alpha must be in (0, 1), got {alpha}")
    correction = spec.get("correction", "holm")
    if correction not in CORRECTIONS:
        raise ReportInputError(f"{where}.correction must be one of {CORRECTIONS}, "
                               f"got {correction!r}")
    reference = spec.get("reference", results.methods[0])
    if reference not in results.methods:
        raise ReportInputError(f"{where}.reference {reference!r} is not a method of the "
                               f"predictions; valid: {results.methods}")
    min_size = int(_number(spec, "min_slice_size", 30, where))
    n_resamples = int(_number(spec, "n_resamples", 10_000, where))
    if min_size < 1 or n_resamples < 100:
        raise ReportInputError(f"{where}: min_slice_size must be >= 1 and n_resamples >= 100, "
                               f"got {min_size} and {n_resamples}")
    try:
        slices = parse_slices(spec.get("slices"), results.predictions, where)
    except ValueError as err:
        raise ReportInputError(str(err)) from err
    return Settings(slices=slices, alpha=alpha,
                    correction=cast(StudyCorrection, correction), reference=reference,
                    min_slice_size=min_size, n_resamples=n_resamples, seed=seed,
                    discovery=discovery.options_from(results))


def _number(spec: dict[str, Any], key: str, default: float, where: str) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportInputError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def analyse(results: Results, settings: Settings) -> Analysis:
    """Compute every frame; `settings.seed` fixes every bootstrap interval of the report.

    Generators 1, 2 and 5 (the pairwise tables and hidden failures) are no longer drawn from:
    those numbers are closed-form now. They stay in the spawned list so the others keep theirs;
    generator 6 (the per-slice accuracies) was appended after them.
    """
    pred, s = results.predictions, settings
    gens = [np.random.default_rng(q) for q in np.random.SeedSequence(s.seed).spawn(7)]
    slice_pairwise = hidden = slice_accuracy = order = None
    corrected: stats.Correction = "holm" if s.correction == "none" else s.correction
    if s.slices:
        names = [spec.column for spec in s.slices]
        sliced, order = with_bins(pred, s.slices)
        stacked = _stack_slices(sliced, names)
        by = ["condition", "slice_column", "slice_value"]
        slice_pairwise = stats.pairwise_table(stacked, by, correction="bh", alpha=s.alpha)
        slice_accuracy = stats.accuracy_table(stacked, by, rng=gens[6],
                                              n_resamples=s.n_resamples)
        hidden = stats.hidden_failures(sliced, names, alpha=s.alpha,
                                       correction=corrected, min_slice_size=s.min_slice_size)
    accuracy = stats.accuracy_table(pred, ["condition"], rng=gens[0], n_resamples=s.n_resamples)
    chance = chance_level(results)
    pairwise = _raw_p_if_uncorrected(
        stats.pairwise_table(pred, ["condition"], alpha=s.alpha, correction=corrected), s)
    return Analysis(
        settings=s,
        accuracy=accuracy,
        pairwise=pairwise,
        slice_pairwise=slice_pairwise,
        curves=stats.curve_table(pred, rng=gens[3], n_resamples=s.n_resamples),
        robustness=stats.guard_effective_robustness(
            stats.robustness_table(pred, reference=s.reference, rng=gens[4],
                                   n_resamples=s.n_resamples),
            _clean_accuracy(pred, accuracy), reference=s.reference, chance=chance.value),
        hidden=hidden,
        chance=chance,
        seeds={m: pred.filter(pl.col("method") == m)["seed"].n_unique()
               for m in results.methods},
        slice_accuracy=slice_accuracy,
        value_order=order,
        discovered=discovery.discover(results, pairwise, s.discovery, s.alpha),
    )


def _clean_accuracy(pred: pl.DataFrame, accuracy: pl.DataFrame) -> pl.DataFrame:
    """The accuracy table's rows of the clean condition (empty when there is none)."""
    clean = pred.filter(pl.col("cond_op") == "clean")["condition"].unique().to_list()
    return accuracy.filter(pl.col("condition").is_in(clean)).select("method", "ci_low")


def _raw_p_if_uncorrected(table: pl.DataFrame, s: Settings) -> pl.DataFrame:
    """With `correction: none`, the "corrected" p of the confirmatory table is the raw p."""
    if s.correction != "none":
        return table
    return table.with_columns(p_adjusted=pl.col("p_value"),
                              significant=pl.col("p_value") < s.alpha)


def _stack_slices(pred: pl.DataFrame, slices: list[str]) -> pl.DataFrame:
    """One copy of `pred` per slice column, tagged (slice_column, slice_value as string)."""
    base = pred.select(list(PREDICTION_COLUMNS))
    return pl.concat([
        base.with_columns(slice_column=pl.lit(c),
                          slice_value=pred[c].cast(pl.String).fill_null(MISSING_LABEL))
        for c in slices])


def seed_note(analysis: Analysis) -> str:
    """What the number of training seeds means for the intervals, in plain words ("" when
    every method has at least 4 seeds)."""
    seeds = analysis.seeds
    if seeds and max(seeds.values()) == 1:
        return ("Each method was trained once (one seed): intervals and tests treat the trained "
                "models as fixed, so training-seed variance is not in them.")
    notes = []
    for k in (2, 3):
        few = [m for m, s in seeds.items() if s == k]
        if few:
            notes.append(f"{', '.join(few)} {'has' if len(few) == 1 else 'have'} only {k} "
                         f"training seeds: the seed variance rests on {k - 1} degree"
                         f"{'s' if k > 2 else ''} of freedom and is poorly estimated, so "
                         "intervals are wide and a real difference may not reach significance"
                         + (" (Cochran–Cox critical values)." if k == 2 else "."))
    single = [m for m, s in seeds.items() if s == 1]
    if single:
        notes.append(f"{', '.join(single)} {'has' if len(single) == 1 else 'have'} one seed: "
                     "its seed variance cannot be estimated and is left out of comparisons.")
    return " ".join(notes)
