"""Perturbing N x 3 x 128 with a three-step composition vs filling the same arrays with
`numpy.random.Generator.standard_normal` (issue 3: target ratio <= 3x).

Both sides are single-threaded numpy. Each figure is the best of `repeats` runs, baseline and
operators interleaved in one process, so the ratio compares like with like on a busy machine.

    python -m bench perturb
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from perturbations import Compose, Operator, build

D = 128
MODALITIES = ("a", "b", "c")


def compositions() -> dict[str, Operator]:
    """The headline (every entry of every example drawn, one noise kind per modality) and a
    typical evaluation-grid mix (half the examples, cross-example swaps and missingness)."""
    return {
        "noise+zero+swap_entries (all rows)": Compose((
            build({"op": "gaussian_noise", "modality": "a", "severity": 3}),
            build({"op": "zero_entries", "modality": "b", "severity": 3}),
            build({"op": "swap_entries", "modality": "c", "severity": 3}),
        )),
        "noise+swap_modality+missing (half)": Compose((
            build({"op": "gaussian_noise", "modality": "a", "severity": 3, "fraction": 0.5}),
            build({"op": "swap_modality", "modality": "b", "fraction": 0.5}),
            build({"op": "missing", "modality": "c", "fraction": 0.5}),
        )),
    }


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(n: int = 1_000_000, repeats: int = 3) -> dict[str, float]:
    rng = np.random.default_rng(0)
    arrays = {m: np.empty((n, D), dtype=np.float32) for m in MODALITIES}
    masks = {m: np.ones(n, dtype=bool) for m in MODALITIES}
    ids = np.arange(n, dtype=np.int64)

    def baseline() -> None:  # fill the same three (n, 128) arrays in place
        for m in MODALITIES:
            rng.standard_normal(dtype=np.float32, out=arrays[m])

    results: dict[str, float] = {"n": float(n), "baseline_s": best_of(repeats, baseline)}
    print(f"{n:,} x {len(MODALITIES)} x {D} float32, best of {repeats}")
    print(f"{'task':44s} {'seconds':>8s} {'ratio':>6s}")
    print(f"{'Generator.standard_normal (baseline)':44s} {results['baseline_s']:8.2f} {1:6.2f}")
    for label, op in compositions().items():
        seconds = best_of(repeats, lambda op=op: op.apply(arrays, masks, ids, seed=0))
        ratio = seconds / results["baseline_s"]
        results[f"{label}_s"], results[f"{label}_ratio"] = seconds, ratio
        print(f"{label:44s} {seconds:8.2f} {ratio:6.2f}")
    return results


if __name__ == "__main__":
    main()
