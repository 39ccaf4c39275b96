"""Budget adequacy: was each variant given a fair chance at this budget? (DESIGN §1, §8)

Five rules, each a pure function of what the tuning and the final runs record, each
returning a `Finding`: a status ("flagged", "ok" or "not_assessed"), one sentence with the
evidence, the evidence itself as JSON-safe numbers, and the remedies — the study-file field
to change and a suggested value. Precise definitions and the reasons for each threshold:
docs/adequacy.md.

    under_trained         the validation curves of the best trial and the finals still rise
    search_boundary       the best config sits at (or near) the edge of a searched range
    tuning_not_converged  the best-so-far score still improved in the last third of the trials
    unstable              the seeds disagree by more than the differences the report calls
                          significant, or a final scored far below the tuning's best
    near_chance           the clean test accuracy's interval includes chance

Metrics are accuracies in [0, 1] (val_top1, val_balanced_accuracy, test top-1), higher is
better; the absolute tolerances below are on that scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from robustlab.stats.adequacy_findings import (
    DEFAULT,
    LABELS,
    RULES,
    Finding,
    Remedy,
    Status,
    Thresholds,
    Verdict,
)

__all__ = ["DEFAULT", "LABELS", "RULES", "Curve", "CurveCheck", "Finding", "Remedy",
           "SearchRange", "Status", "Thresholds", "Verdict", "check_curve", "curve_noise",
           "near_chance", "range_position", "search_boundary", "tuning_not_converged",
           "under_trained", "unstable"]


def _skip(rule: str, why: str, **evidence: Any) -> Finding:
    return Finding(rule, "not_assessed", why, evidence)


# --- under-trained ------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """One run's per-epoch validation scores. `complete` is False for a run that did not run
    its whole budget (stopped by ASHA, early stopping or divergence): its end says nothing
    about whether more epochs would have helped."""

    name: str
    values: tuple[float, ...]
    complete: bool = True


@dataclass(frozen=True)
class CurveCheck:
    """The under-training test of one curve (epochs are 1-based)."""

    name: str
    epochs: int
    best_epoch: int
    best: float
    slope: float  # per epoch, least squares over the tail
    rise: float  # slope × (tail − 1): the tail's fitted gain
    noise: float  # robust SD of the epoch-to-epoch noise (curve_noise)
    tail: int
    rising: bool


def curve_noise(values: np.ndarray) -> float:
    """Robust SD of one epoch's score around a smooth trend, from second differences:
    1.4826·MAD(Δ²y)/√6 (Δ²ε has variance 6σ²; a smooth trend's curvature changes slowly,
    and the median absorbs it — first differences would count a saturating curve's
    flattening as noise)."""
    d2 = np.diff(values, n=2)
    if d2.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def check_curve(curve: Curve, th: Thresholds = DEFAULT) -> CurveCheck | None:
    """The rising test of one curve, or None when it cannot be assessed (incomplete run,
    fewer than `th.min_epochs` finite values)."""
    y = np.asarray(curve.values, dtype=float)
    if not curve.complete or y.size < th.min_epochs or not np.isfinite(y).all():
        return None
    epochs = y.size
    best_epoch = int(np.argmax(y)) + 1  # the first epoch reaching the maximum
    tail = min(epochs, max(th.min_tail, math.ceil(th.tail_fraction * epochs)))
    slope = float(np.polyfit(np.arange(tail, dtype=float), y[-tail:], 1)[0])
    rise, noise = slope * (tail - 1), curve_noise(y)
    late = best_epoch > epochs - math.ceil(th.tail_fraction * epochs)
    rising = late and rise > max(th.noise_z * noise, th.min_rise)
    return CurveCheck(curve.name, epochs, best_epoch, float(y.max()), slope, rise, noise,
                      tail, rising)


def under_trained(curves: Sequence[Curve], budget_epochs: int,
                  th: Thresholds = DEFAULT) -> Finding:
    """Flagged when at least half of the assessable curves (the best trial's, the finals')
    still rise at the end: best epoch in the last `tail_fraction` of the epochs AND a fitted
    rise over the tail above both `noise_z` noise SDs and `min_rise`."""
    rule = "under_trained"
    judged = [(x.name, check_curve(x, th)) for x in curves]
    checks = [c for _, c in judged if c is not None]
    skipped = [name for name, c in judged if c is None]
    if not checks:
        return _skip(rule, f"no complete validation curve of ≥ {th.min_epochs} epochs "
                           f"to judge (runs: {', '.join(skipped) or 'none'})", skipped=skipped)
    rising = [c for c in checks if c.rising]
    evidence = {"curves": [_curve_evidence(c) for c in checks], "skipped": skipped,
                "rising": len(rising), "assessed": len(checks)}
    if 2 * len(rising) < len(checks):
        return Finding(rule, "ok", f"{len(checks) - len(rising)} of {len(checks)} validation "
                                   "curves had stopped rising", evidence)
    shown = "; ".join(f"{c.name}: best at epoch {c.best_epoch} of {c.epochs}, "
                      f"+{c.rise:.3f} over the last {c.tail} epochs (noise {c.noise:.3f})"
                      for c in rising)
    new = 2 * budget_epochs
    return Finding(rule, "flagged",
                   f"{len(rising)} of {len(checks)} validation curves still rising at the end "
                   f"({shown})", evidence,
                   (Remedy("budget.epochs", new, f"train longer: budget.epochs: "
                                                 f"{budget_epochs} → {new} (for every variant)"),))


def _curve_evidence(c: CurveCheck) -> dict[str, Any]:
    return {"run": c.name, "epochs": c.epochs, "best_epoch": c.best_epoch, "best": c.best,
            "tail": c.tail, "slope": c.slope, "rise": c.rise, "noise": c.noise,
            "rising": c.rising}


# --- search boundary ----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRange:
    """A numeric range the tuner searched. `declared_*` is the method's own range (a study
    may narrow it, never widen it); `field` is the study-file path that sets it."""

    name: str
    kind: Literal["float", "int"]
    low: float
    high: float
    log: bool
    declared_low: float
    declared_high: float
    field: str


def range_position(r: SearchRange, value: float) -> float:
    """Where `value` lies in the range on the scale the tuner samples it: 0 = low, 1 = high."""
    if r.log:
        return (math.log(value) - math.log(r.low)) / (math.log(r.high) - math.log(r.low))
    return (value - r.low) / (r.high - r.low)


def search_boundary(best_config: Mapping[str, Any] | None, ranges: Sequence[SearchRange],
                    th: Thresholds = DEFAULT, best_score: float | None = None) -> Finding:
    """Flagged when a searched numeric value of the best config lies within `edge_margin` of
    its range's edge (log scale for log ranges). Choices and fixed values are excluded.
    `best_score`, the tuning's best validation score (higher is better, at most 1): at that
    maximum no config beyond the edge can score higher, so an edge is not a finding there
    (many configs tie at 1 and the tuner's pick among them is arbitrary)."""
    rule = "search_boundary"
    if best_config is None:
        return _skip(rule, "no best config (every tuning trial failed)")
    numeric = [r for r in ranges if r.high > r.low and _is_number(best_config.get(r.name))]
    if not numeric:
        return Finding(rule, "ok", "no numeric range was searched", {"params": []})
    params, remedies = [], []
    for r in numeric:
        u = range_position(r, float(best_config[r.name]))
        edge = "low" if u <= th.edge_margin else "high" if u >= 1 - th.edge_margin else None
        params.append({"name": r.name, "value": best_config[r.name], "low": r.low,
                       "high": r.high, "log": r.log, "position": u, "edge": edge})
        if edge is not None:
            remedies.append(_widen(r, edge))
    evidence = {"params": params, "margin": th.edge_margin}
    hits = [p for p in params if p["edge"]]
    if not hits:
        return Finding(rule, "ok", f"every searched value lies inside its range "
                                   f"({', '.join(p['name'] for p in params)})", evidence)
    shown = "; ".join(f"{p['name']} = {p['value']:.3g} at the {p['edge']} edge of "
                      f"[{p['low']:.3g}, {p['high']:.3g}]{' (log)' if p['log'] else ''}"
                      for p in hits)
    if best_score is not None and best_score >= th.score_ceiling:
        return Finding(rule, "ok", f"{shown}, but its validation score {best_score:.3f} is the "
                                   "metric's maximum: no wider range can score higher",
                       {**evidence, "best_score": best_score, "at_ceiling": True})
    return Finding(rule, "flagged", f"best config at the edge of its search range: {shown}",
                   evidence, tuple(remedies))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _widen(r: SearchRange, edge: str) -> Remedy:
    """Extend the hit edge by half the range's width (on its sampling scale), up to the
    method's declared bound; at that bound the study file cannot widen it."""
    bound = r.declared_low if edge == "low" else r.declared_high
    current = r.low if edge == "low" else r.high
    if math.isclose(current, bound, rel_tol=1e-9, abs_tol=1e-15):
        return Remedy(r.field, None,
                      f"{r.name} already spans the method's declared range to {bound:.3g}; the "
                      f"study file cannot search past it: widen the method's search_space()")
    sign = -1.0 if edge == "low" else 1.0
    if r.log:
        new = current * math.exp(sign * 0.5 * math.log(r.high / r.low))
    else:
        new = current + sign * 0.5 * (r.high - r.low)
    if r.kind == "int":
        new = math.floor(new) if edge == "low" else math.ceil(new)
    else:
        new = float(f"{new:.2g}")
    new = max(new, bound) if edge == "low" else min(new, bound)
    low, high = (new, r.high) if edge == "low" else (r.low, new)
    value = {"low": low, "high": high}
    return Remedy(r.field, value, f"widen the range: {r.field}: {{low: {low:.3g}, high: "
                                  f"{high:.3g}}} (was [{r.low:.3g}, {r.high:.3g}])")


# --- tuning not converged -----------------------------------------------------------------


def tuning_not_converged(scores: Sequence[float | None], th: Thresholds = DEFAULT) -> Finding:
    """Flagged when the best-so-far score, over the trials in completion order, rose by more
    than `converged_tol` within the last third (ceil(T/3)) of the T trials. `None` = a failed
    trial: it used budget and found nothing. A trial stopped by ASHA counts with the best
    score it reached. With every trial failed the tuning found nothing: flagged."""
    rule, t = "tuning_not_converged", len(scores)
    if t == 0:
        return _skip(rule, "no tuning trial recorded")
    ok = [s for s in scores if s is not None and math.isfinite(s)]
    more = Remedy("budget.trials", 2 * t, f"search longer: budget.trials: {t} → {2 * t} "
                                          "(for every variant)")
    if not ok:
        return Finding(rule, "flagged", f"all {t} tuning trials failed (see the error column "
                                        "of trials.parquet)", {"trials": t, "failed": t},
                       (Remedy("search.lr", None, "every trial failed: read the errors; a "
                                                  "diverging loss calls for a lower search.lr "
                                                  "high end"),))
    k = math.ceil(t / 3)
    early = [s for s in scores[: t - k] if s is not None and math.isfinite(s)]
    before, best = (max(early) if early else -math.inf), max(ok)
    at = 1 + next(i for i, s in enumerate(scores) if s is not None and s == best)
    gain = best - before
    evidence = {"trials": t, "failed": t - len(ok), "last_third": k,
                "best_before_last_third": before if early else None, "best": best,
                "best_at_trial": at, "gain": gain if early else None,
                "tolerance": th.converged_tol}
    last = "the last trial" if k == 1 else f"the last {k} trials"
    if gain <= th.converged_tol:
        return Finding(rule, "ok", f"the best score ({best:.3f}, trial {at} of {t}) gained "
                                   f"{gain:+.3f} in {last}", evidence)
    shown = f"rose from {before:.3f} to {best:.3f}" if early else f"came only in {last}"
    return Finding(rule, "flagged", f"the best score {shown} ({best:.3f} at trial {at} of "
                                    f"{t}, completion order)", evidence, (more,))


# --- unstable -----------------------------------------------------------------------------


def unstable(
    seed_accuracy: Mapping[int, float],
    final_val: Mapping[int, float],
    tuning_best: float | None,
    resolution: float | None,
    th: Thresholds = DEFAULT,
) -> Finding:
    """Flagged when (a) the SD over final seeds of the clean test accuracy exceeds
    min(resolution, max_seed_sd), where `resolution` is the smallest clean |Δ| involving this
    variant that the report calls significant (None: no such difference), or (b) a final's
    validation score lies more than max(val_gap_abs, val_gap_rel × best) below the tuning's
    best score."""
    rule = "unstable"
    seeds = sorted(seed_accuracy)
    spread = _spread(seed_accuracy, resolution, th)
    gap = _val_gap(final_val, tuning_best, th)
    if spread is None and gap is None:
        return _skip(rule, "one final seed and no validation score to compare",
                     seeds=len(seeds))
    evidence = {**(spread or {}), **(gap or {})}
    flagged = bool(spread and spread["spread_flagged"]) or bool(gap and gap["gap_flagged"])
    parts = []
    if spread is not None:
        parts.append(f"seed SD of clean accuracy {spread['seed_sd']:.3f} over {len(seeds)} "
                     f"seeds (limit {spread['sd_limit']:.3f}, {spread['limit_basis']})")
    if gap is not None:
        parts.append(f"worst final val score {gap['worst_final_val']:.3f} vs tuning best "
                     f"{tuning_best:.3f} (allowed gap {gap['gap_limit']:.3f})")
    if not flagged:
        return Finding(rule, "ok", "; ".join(parts), evidence)
    more = sorted(set(seeds) | set(range(max(seeds, default=-1) + 1,
                                         max(seeds, default=-1) + 1 + max(len(seeds), 2))))
    return Finding(rule, "flagged", "; ".join(parts), evidence, (Remedy(
        "final.seeds", more, f"more final seeds so the mean is trustworthy: final.seeds: "
                             f"{seeds} → {more}; a spread this large often comes from a "
                             "learning rate near the edge of stability (narrow search.lr)"),))


def _spread(acc: Mapping[int, float], resolution: float | None,
            th: Thresholds) -> dict[str, Any] | None:
    if len(acc) < 2:
        return None
    sd = float(np.std(np.asarray(list(acc.values()), dtype=float), ddof=1))
    if resolution is not None and resolution < th.max_seed_sd:
        limit, basis = resolution, "the smallest significant clean Δ with another variant"
    else:
        limit, basis = th.max_seed_sd, "the fixed limit"
    return {"seed_accuracy": {str(k): v for k, v in sorted(acc.items())}, "seed_sd": sd,
            "resolution": resolution, "sd_limit": limit, "limit_basis": basis,
            "spread_flagged": sd > limit}


def _val_gap(final_val: Mapping[int, float], best: float | None,
             th: Thresholds) -> dict[str, Any] | None:
    values = {k: v for k, v in final_val.items() if math.isfinite(v)}
    if best is None or not math.isfinite(best) or not values:
        return None
    worst_seed = min(values, key=lambda k: values[k])
    limit = max(th.val_gap_abs, th.val_gap_rel * best)
    gap = best - values[worst_seed]
    return {"final_val": {str(k): v for k, v in sorted(values.items())}, "tuning_best": best,
            "worst_final_val": values[worst_seed], "worst_seed": worst_seed, "gap": gap,
            "gap_limit": limit, "gap_flagged": gap > limit}


# --- near chance --------------------------------------------------------------------------


def near_chance(accuracy: float | None, n: int, chance: float | None, budget_epochs: int,
                th: Thresholds = DEFAULT) -> Finding:
    """Flagged when the Clopper–Pearson interval (level `th.level`) of the clean test accuracy
    reaches down to chance: the variant is not shown to beat a random guess. `accuracy` is
    the mean over seeds, judged as one run on the `n` test examples (the seeds share the
    examples: pooling them as S·n independent trials would overstate the evidence)."""
    rule = "near_chance"
    if chance is None or not 0.0 <= chance < 1.0:
        return _skip(rule, "chance level not recorded for this study")
    if accuracy is None or n < 1 or not math.isfinite(accuracy):
        return _skip(rule, "no clean test accuracy", chance=chance)
    k = round(accuracy * n)
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=th.level, method="exact")
    evidence = {"accuracy": accuracy, "n": n, "chance": chance, "ci_low": float(ci.low),
                "ci_high": float(ci.high), "level": th.level}
    shown = (f"clean accuracy {accuracy:.3f}, {th.level:.0%} CI [{ci.low:.3f}, {ci.high:.3f}] "
             f"(n = {n}), chance {chance:.4g}")
    if ci.low > chance:
        return Finding(rule, "ok", shown, evidence)
    below = " — below chance" if ci.high < chance else ""
    return Finding(rule, "flagged", shown + below, evidence, (Remedy(
        "budget.epochs", 2 * budget_epochs,
        "the variant learned nothing measurable: act on its other findings first; if none "
        f"fires, train longer (budget.epochs: {budget_epochs} → {2 * budget_epochs}) or "
        "search a wider search.lr — or the method cannot represent this task"),))
