"""Robustness summaries over a severity grid (MultiBench's relative and effective robustness).

levels: `(L,)` condition levels of one curve, strictly increasing, starting at 0.0 (clean).
correct: `(L, n)` or `(L, n_seeds, n)` bool; row l is the correctness at levels[l] on the same
n example ids.

MultiBench integrates accuracy over its perturbation levels with the trapezoidal rule
(relative robustness) and sums the gap to a reference curve shifted to the method's clean
accuracy (effective robustness), then max–min normalises across the methods it compares.
Here both use the same trapezoidal rule over levels scaled to [0, 1], so they are in accuracy
units and do not depend on the grid size, and there is no cross-method normalisation (it would
change with the set of methods and has no CI). Both are means of per-example values, so the
bootstrap (and BCa) of `bootstrap.py` applies unchanged, resampling example ids once across
all levels.
"""

from __future__ import annotations

import numpy as np

from robustlab.stats.bootstrap import Interval, bootstrap_blocks, check_correct, paired_blocks


def trapezoid_weights(levels: np.ndarray) -> np.ndarray:
    """(L,) weights w with Σ_l w_l acc_l = trapezoidal area under acc over levels / max(levels).

    The weights sum to 1, so a flat curve at accuracy p has area p.
    """
    x = np.asarray(levels, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.isfinite(x).all():
        raise ValueError(f"levels: expected >= 2 finite levels (clean 0.0 first), got {x}")
    if x[0] != 0.0 or not (np.diff(x) > 0).all():
        raise ValueError(f"levels: must start at 0.0 (clean) and strictly increase, got {x}")
    x = x / x[-1]
    gaps = np.diff(x)  # (L-1,)
    w = np.zeros(x.size)
    w[:-1] += gaps / 2.0
    w[1:] += gaps / 2.0
    return w


def _curve(levels: np.ndarray, correct: np.ndarray, name: str) -> np.ndarray:
    """(L, S, n) float from `correct`, checked against `levels`."""
    arr = np.asarray(correct)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3 or arr.shape[0] != np.asarray(levels).size:
        raise ValueError(f"{name}: expected shape (L, n) or (L, n_seeds, n) with "
                         f"L = len(levels) = {np.asarray(levels).size}, got {arr.shape}")
    return np.stack([check_correct(row, f"{name}[{i}]") for i, row in enumerate(arr)])


def relative_block(levels: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """(S, n) per-example relative robustness Σ_l w_l x_l (its mean is the area)."""
    x = _curve(levels, correct, "correct")
    return np.einsum("l,lsn->sn", trapezoid_weights(levels), x)


def effective_blocks(
    levels: np.ndarray, correct: np.ndarray, reference: np.ndarray, pair_seeds: bool
) -> tuple[np.ndarray, ...]:
    """Blocks whose summed means are ER = [RR(f) − f(0)] − [RR(r) − r(0)]."""
    f = relative_block(levels, correct) - _curve(levels, correct, "correct")[0]  # (S_f, n)
    r = relative_block(levels, reference) - _curve(levels, reference, "reference")[0]
    return paired_blocks(f, r, pair_seeds, "correct, reference")


def relative_robustness(
    levels: np.ndarray,
    correct: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
) -> Interval:
    """Area under the accuracy–level curve (trapezoidal, levels scaled to [0, 1]), with CI."""
    block = relative_block(levels, correct)
    return bootstrap_blocks([(block,)], rng=rng, n_resamples=n_resamples, level=level)[0]


def effective_robustness(
    levels: np.ndarray,
    correct: np.ndarray,
    reference: np.ndarray,
    *,
    rng: np.random.Generator,
    n_resamples: int = 10_000,
    level: float = 0.95,
    pair_seeds: bool = True,
) -> Interval:
    """Area of the gap between the curve and the reference curve shifted to the same clean
    accuracy: RR(f) − RR(r) − (f(0) − r(0)), with a paired CI. `reference` has `correct`'s
    layout (same levels and example ids)."""
    blocks = effective_blocks(levels, correct, reference, pair_seeds)
    return bootstrap_blocks([blocks], rng=rng, n_resamples=n_resamples, level=level)[0]
