"""Paired bootstrap CIs: robustlab.stats vs looping scipy.stats.bootstrap over slices.

Workload (DESIGN §12): 50 slices × 10,000 resamples × 100k examples, BCa, paired Δ = acc_a − acc_b.
Two shapes of "100k examples":
  split:     one test set of 100k examples cut into 50 slices (~2k each)
  per_slice: 50 slices of 100k examples each (5M paired examples)
Ours is timed on every slice. scipy is too slow to run on all of them here, so it is timed on a
subset and extrapolated per slice (the table says which): `split` times scipy's BCa on
SCIPY_SLICES slices; `per_slice` times scipy's *percentile* method (no n² jackknife, so a lower
bound on its BCa time) on one slice with 1,000 resamples and scales by 10 (its cost is linear in
resamples). Both baselines run in this process, right after ours.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import stats

from robustlab.stats import paired_bootstrap_cis

N_SLICES = 50
N_RESAMPLES = 10_000
N_EXAMPLES = 100_000
SCIPY_SLICES = 5


def _pairs(rng: np.random.Generator, n: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Correlated paired correctness with accuracy difference ≈ delta."""
    easy = rng.random(n)
    a = easy < 0.7 + delta / 2
    b = rng.random(n) < np.where(easy < 0.7, 0.85, 0.3) - delta / 2  # correlated with a
    return a, b


def _diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a - b, axis=axis)


def _scipy(a, b, method: str, n_resamples: int, seed: int):
    return stats.bootstrap((a.astype(float), b.astype(float)), _diff, paired=True,
                           vectorized=True, n_resamples=n_resamples, method=method,
                           batch=max(1, 20_000_000 // a.size), rng=np.random.default_rng(seed))


def _ours(slices_a, slices_b) -> tuple[float, list]:
    start = time.perf_counter()
    ivs = paired_bootstrap_cis(slices_a, slices_b, rng=np.random.default_rng(0),
                                n_resamples=N_RESAMPLES)
    return time.perf_counter() - start, ivs


def _split_case(rng: np.random.Generator) -> dict[str, float]:
    a, b = _pairs(rng, N_EXAMPLES, 0.02)
    which = rng.integers(0, N_SLICES, N_EXAMPLES)  # (n,) slice of each example
    sa = [a[which == g] for g in range(N_SLICES)]
    sb = [b[which == g] for g in range(N_SLICES)]
    ours_s, ivs = _ours(sa, sb)
    start = time.perf_counter()
    ref = [_scipy(sa[g], sb[g], "BCa", N_RESAMPLES, g) for g in range(SCIPY_SLICES)]
    per_slice = (time.perf_counter() - start) / SCIPY_SLICES
    gap = max(max(abs(iv.low - r.confidence_interval.low),
                  abs(iv.high - r.confidence_interval.high))
              for iv, r in zip(ivs, ref, strict=False))
    width = float(np.mean([iv.high - iv.low for iv in ivs[:SCIPY_SLICES]]))
    return {"ours_s": ours_s, "scipy_s": per_slice * N_SLICES, "scipy_timed_slices": SCIPY_SLICES,
            "max_ci_gap": gap, "mean_ci_width": width}


def _per_slice_case(rng: np.random.Generator) -> dict[str, float]:
    pairs = [_pairs(rng, N_EXAMPLES, 0.02) for _ in range(N_SLICES)]
    ours_s, _ = _ours([p[0] for p in pairs], [p[1] for p in pairs])
    start = time.perf_counter()
    _scipy(pairs[0][0], pairs[0][1], "percentile", 1_000, 0)
    one = (time.perf_counter() - start) * (N_RESAMPLES / 1_000)
    return {"ours_s": ours_s, "scipy_s": one * N_SLICES, "scipy_timed_slices": 1}


def main() -> dict:
    rng = np.random.default_rng(2026)
    results = {"split": _split_case(rng), "per_slice": _per_slice_case(rng)}
    print(f"{N_SLICES} slices × {N_RESAMPLES} resamples, paired Δ, BCa (ours)")
    print(f"{'case':<10} {'ours [s]':>9} {'scipy loop [s]':>15} {'speedup':>8}  scipy timed on")
    for case, r in results.items():
        r["speedup"] = r["scipy_s"] / r["ours_s"]
        note = (f"{r['scipy_timed_slices']} slice(s), BCa" if case == "split"
                else "1 slice, percentile, 1k resamples ×10")
        print(f"{case:<10} {r['ours_s']:9.2f} {r['scipy_s']:15.1f} {r['speedup']:7.0f}×  "
              f"{note} (extrapolated to {N_SLICES})")
    split = results["split"]
    print(f"split: max |CI endpoint gap| vs scipy on the timed slices = {split['max_ci_gap']:.4f} "
          f"(mean CI width {split['mean_ci_width']:.4f}; Monte Carlo error, independent draws)")
    return results


if __name__ == "__main__":
    main()
