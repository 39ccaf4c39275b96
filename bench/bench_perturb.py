"""Perturbing N x 3 x 128 with a three-step composition vs filling the same arrays with
`numpy.random.Generator.standard_normal` (issue 3: target ratio <= 3x).

Both sides are single-threaded numpy, measured in one process, each figure the best of
`repeats` runs; wall and CPU time are both reported (CPU time is steadier on a busy machine).

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


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds). Both sides are single-threaded, so CPU time is
    the steadier figure on a shared machine; wall time is what a user waits."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main(n: int = 1_000_000, repeats: int = 3) -> dict[str, float]:
    rng = np.random.default_rng(0)
    arrays = {m: np.empty((n, D), dtype=np.float32) for m in MODALITIES}
    masks = {m: np.ones(n, dtype=bool) for m in MODALITIES}
    ids = np.arange(n, dtype=np.int64)

    def baseline() -> None:  # fill the same three (n, 128) arrays in place
        for m in MODALITIES:
            rng.standard_normal(dtype=np.float32, out=arrays[m])

    base_wall, base_cpu = best_of(repeats, baseline)
    results: dict[str, float] = {"n": float(n), "baseline_wall_s": base_wall,
                                 "baseline_cpu_s": base_cpu}
    print(f"{n:,} x {len(MODALITIES)} x {D} float32, best of {repeats}")
    print(f"{'task':40s} {'wall s':>7s} {'ratio':>6s} {'cpu s':>7s} {'ratio':>6s}")
    print(f"{'Generator.standard_normal (baseline)':40s} {base_wall:7.2f} {1:6.2f} "
          f"{base_cpu:7.2f} {1:6.2f}")
    for label, op in compositions().items():
        wall, cpu = best_of(repeats, lambda op=op: op.apply(arrays, masks, ids, seed=0))
        results |= {f"{label}_wall_s": wall, f"{label}_wall_ratio": wall / base_wall,
                    f"{label}_cpu_s": cpu, f"{label}_cpu_ratio": cpu / base_cpu}
        print(f"{label:40s} {wall:7.2f} {wall / base_wall:6.2f} {cpu:7.2f} {cpu / base_cpu:6.2f}")
    return results


if __name__ == "__main__":
    main()
