"""Every statistic the report shows, computed once from the predictions frame.

The report's settings come from the manifest's resolved study spec (`study.report`: slices,
alpha, correction, contrasts, margin, seed_variance, and optionally reference, min_slice_size,
n_resamples); each statistic gets its own generator spawned from the report seed, so adding a
section never changes the numbers of another. Families: the declared contrasts are the
confirmatory family (`verdicts`: better / worse / equivalent / undecided, family-wise error α
by Bonferroni, or per contrast with `correction: none`); every pair of every condition and
every slice is an exploratory screen (Benjamini–Hochberg); a hidden failure needs a contrast
the verdicts called (the average difference) reversed on a slice, corrected over the called
contrasts' slices with the study's correction (Holm when it says `none`) — a search over every
slice is never reported uncorrected.

Pairwise intervals are at level 1 − alpha so that "interval excludes 0" and "p < alpha" are the
same statement (docs/statistics.md). Effective robustness is withheld for methods whose clean
accuracy interval reaches the study's chance level (`chance.py`).

Discovered slices (`discovery.py`, `report.discovery`): searched in every report unless the
study turns it off; the reversals it looks for are those of the declared contrasts the verdicts
called better or worse.

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
    contrasts: tuple[stats.Contrast, ...] = ()  # resolved; empty: no predictions to resolve
    declared: bool = False  # the study declared its contrasts (else the default family)
    margin: float = 0.02
    pool_seeds: bool = True
    design: Any = None  # stats.until_decided.Design of a sequential final phase, else None
    discovery: DiscoveryOptions = field(default_factory=DiscoveryOptions)  # report.discovery


@dataclass(frozen=True)
class Analysis:
    """The statistics frames (columns: the docstrings of `robustlab.stats.frames`/`hidden`)."""

    settings: Settings
    accuracy: pl.DataFrame  # by condition
    pairwise: pl.DataFrame  # by condition; every pair, exploratory (BH)
    verdicts: stats.VerdictTable  # the declared contrasts: the confirmatory family
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
    sequential: Any = None  # stats.until_decided.Outcome when the seeds were added until decided
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
    margin = _number(spec, "margin", 0.02, where)
    if not 0.0 < margin < 1.0:
        raise ReportInputError(f"{where}.margin must be in (0, 1), got {margin}")
    pooling = spec.get("seed_variance", "pooled")
    if pooling not in ("pooled", "separate"):
        raise ReportInputError(f"{where}.seed_variance must be 'pooled' or 'separate', "
                               f"got {pooling!r}")
    declared = spec.get("contrasts") or []
    return Settings(slices=slices, alpha=alpha,
                    correction=cast(StudyCorrection, correction), reference=reference,
                    min_slice_size=min_size, n_resamples=n_resamples, seed=seed,
                    contrasts=_contrasts(results, declared, where), declared=bool(declared),
                    margin=margin, pool_seeds=pooling == "pooled",
                    design=_design(results.study.get("final"), where.replace("report", "final")),
                    discovery=discovery.options_from(results))


def _design(final: Any, where: str) -> Any:
    """The sequential design of `study.final.until_decided`, or None."""
    from robustlab.stats.until_decided import Design

    if not isinstance(final, dict) or not final.get("until_decided"):
        return None
    u = final["until_decided"]
    try:
        return Design(tuple(int(s) for s in final.get("seeds", [0, 1, 2])), int(u["max_seeds"]),
                      int(u.get("step", 2)), u.get("spending", "obrien_fleming"))
    except (KeyError, TypeError, ValueError) as err:
        raise ReportInputError(f"{where}.until_decided: not a valid design ({err})") from err


def _contrasts(results: Results, declared: Any, where: str) -> tuple[stats.Contrast, ...]:
    """The confirmatory family, resolved against the study's variants (the manifest's order,
    so a variant without predictions still counts) and the conditions of the predictions."""
    if not isinstance(declared, list):
        raise ReportInputError(f"{where}.contrasts must be a list, got {declared!r}")
    order = results.manifest.get("method_order")
    recorded = results.manifest.get("methods")
    if not (isinstance(order, list) and order):
        order = list(recorded) if isinstance(recorded, dict) else []
    variants = [*order, *(m for m in results.methods if m not in order)]
    table = results.predictions.select("condition", "cond_op", "cond_modality",
                                       "cond_level").unique(maintain_order=True)
    info = [stats.ConditionInfo(r["condition"], r["cond_op"], r["cond_modality"],
                                float(r["cond_level"])) for r in table.iter_rows(named=True)]
    try:
        return tuple(stats.resolve_contrasts(declared, variants, info, f"{where}.contrasts"))
    except stats.ContrastError as err:
        raise ReportInputError(str(err)) from err


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
    verdicts, sequential = _verdicts(results, s)
    if s.slices:
        names = [spec.column for spec in s.slices]
        sliced, order = with_bins(pred, s.slices)
        stacked = _stack_slices(sliced, names)
        by = ["condition", "slice_column", "slice_value"]
        slice_pairwise = stats.pairwise_table(stacked, by, correction="bh", alpha=s.alpha)
        slice_accuracy = stats.accuracy_table(stacked, by, rng=gens[6],
                                              n_resamples=s.n_resamples)
        hidden = stats.hidden_failures(sliced, names, alpha=s.alpha,
                                       correction=corrected, min_slice_size=s.min_slice_size,
                                       decided=_called(verdicts))
    accuracy = stats.accuracy_table(pred, ["condition"], rng=gens[0], n_resamples=s.n_resamples)
    chance = chance_level(results)
    pairwise = stats.pairwise_table(pred, ["condition"], alpha=s.alpha, correction="bh")
    return Analysis(
        settings=s,
        accuracy=accuracy,
        pairwise=pairwise,
        verdicts=verdicts,
        sequential=sequential,
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
        discovered=discovery.discover(results, _called_frame(verdicts), s.discovery, s.alpha),
    )


def _called(verdicts: stats.VerdictTable) -> dict[tuple[str, str, str], float]:
    """{(condition, a, b): Bonferroni-adjusted p} of the contrasts called better or worse."""
    t = verdicts.table
    if t.height == 0:
        return {}
    called = t.filter(pl.col("verdict").is_in(["better", "worse"]))
    return {(r["condition"], r["method_a"], r["method_b"]):
            min(1.0, r["p_diff"] * verdicts.alpha / r["level"])
            for r in called.iter_rows(named=True)}


def _called_frame(verdicts: stats.VerdictTable) -> pl.DataFrame:
    """The verdicts as the discovery's comparisons read them: a `significant` column that is
    exactly "called better or worse" (the average win a reversal must overturn)."""
    t = verdicts.table
    if t.height == 0:
        return pl.DataFrame(schema={"condition": pl.String, "method_a": pl.String,
                                    "method_b": pl.String, "delta": pl.Float64,
                                    "significant": pl.Boolean})
    return t.select("condition", "method_a", "method_b", "delta",
                    significant=pl.col("verdict").is_in(["better", "worse"]))


def _verdicts(results: Results, s: Settings) -> tuple[stats.VerdictTable, Any]:
    """The declared contrasts' verdicts: one look at every seed for a fixed design; for a
    sequential one, the looks replayed from the predictions (the decisions the study made)."""
    from robustlab.stats.until_decided import replay

    family_error: stats.FamilyError = "none" if s.correction == "none" else "fwer"
    if s.design is None:
        return stats.verdict_table(results.predictions, s.contrasts, margin=s.margin,
                                   alpha=s.alpha, pool_seeds=s.pool_seeds,
                                   family_error=family_error), None
    outcome = replay(results.predictions, s.contrasts, s.design, margin=s.margin, alpha=s.alpha,
                     family_error=family_error, pool_seeds=s.pool_seeds,
                     attempted=_failed_seeds(results))
    last = outcome.tables[-1] if outcome.tables else None
    table = stats.VerdictTable(outcome.table, outcome.family_size, s.alpha, s.margin,
                               last.pooled if last else None, family_error)
    return table, outcome


def _failed_seeds(results: Results) -> dict[str, set[int]]:
    """Final runs the manifest records as ended without predictions."""
    out: dict[str, set[int]] = {}
    methods = results.manifest.get("methods", {})
    for name, record in (methods.items() if isinstance(methods, dict) else []):
        finals = record.get("finals", {}) if isinstance(record, dict) else {}
        for seed, info in (finals.items() if isinstance(finals, dict) else []):
            if isinstance(info, dict) and "error" in info and str(seed).isdigit():
                out.setdefault(name, set()).add(int(seed))
    return out


def _clean_accuracy(pred: pl.DataFrame, accuracy: pl.DataFrame) -> pl.DataFrame:
    """The accuracy table's rows of the clean condition (empty when there is none)."""
    clean = pred.filter(pl.col("cond_op") == "clean")["condition"].unique().to_list()
    return accuracy.filter(pl.col("condition").is_in(clean)).select("method", "ci_low")


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
