"""Dataset generation and loading speed, as ratios against baselines measured in the same run.

1. `synthetic_xnor` with 1 M examples (3 × (1 M, 128) float32, corruption 0.3, split included)
   vs filling the same three arrays with `numpy.random.Generator.standard_normal`.
2. The `files` loader on an npz folder (200 k train rows, all checks) vs a bare `np.load` of
   the same arrays.

Each figure is the best of `REPEATS` interleaved runs (the machine is shared and noisy).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from robustlab.data import DATASETS

N_XNOR = 1_000_000
DIM = 128
N_FILES = 200_000
REPEATS = 2


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _interleaved(candidate: Callable[[], object], baseline: Callable[[], object]
                 ) -> tuple[float, float]:
    times: dict[str, list[float]] = {"candidate": [], "baseline": []}
    for _ in range(REPEATS):
        times["baseline"].append(_seconds(baseline))
        times["candidate"].append(_seconds(candidate))
    return min(times["candidate"]), min(times["baseline"])


def bench_xnor() -> dict[str, float]:
    options = DATASETS.get("synthetic_xnor")(n=N_XNOR, corruption=0.3)

    def baseline() -> None:
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal((N_XNOR, DIM), dtype=np.float32) for _ in range(3)]
        del arrays

    xnor, fill = _interleaved(lambda: options.build(0), baseline)
    return {"xnor_1m_s": xnor, "standard_normal_fill_s": fill, "xnor_ratio": xnor / fill}


def _write_folder(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", N_FILES), ("val", N_FILES // 10), ("test", N_FILES // 10)):
        np.savez(folder / f"{split}.npz",
                 a=rng.standard_normal((n, DIM), dtype=np.float32),
                 b=rng.standard_normal((n, DIM), dtype=np.float32),
                 c=rng.standard_normal((n, DIM), dtype=np.float32),
                 mask_b=rng.random(n) < 0.9,
                 label=rng.integers(0, 10, n),
                 site=rng.integers(0, 5, n))


def bench_files() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        folder = Path(tmp)
        _write_folder(folder)
        options = DATASETS.get("files")(path=str(folder), modalities=("a", "b", "c"))

        def baseline() -> None:
            for path in folder.glob("*.npz"):
                with np.load(path) as archive:
                    arrays = {name: archive[name] for name in archive.files}
                del arrays

        loader, raw = _interleaved(lambda: options.build(0), baseline)
    return {"files_load_s": loader, "np_load_s": raw, "files_ratio": loader / raw}


def main() -> dict[str, float]:
    figures = {**bench_xnor(), **bench_files()}
    rows = [
        (f"synthetic_xnor build, {N_XNOR:,} × 3 × {DIM}", figures["xnor_1m_s"],
         f"standard_normal fill {figures['standard_normal_fill_s']:.2f} s",
         figures["xnor_ratio"]),
        (f"files loader, {int(N_FILES * 1.2):,} rows npz", figures["files_load_s"],
         f"bare np.load {figures['np_load_s']:.2f} s", figures["files_ratio"]),
    ]
    print(f"{'what':<42} {'time':>8}  {'baseline (same run)':<30} {'ratio':>6}")
    for what, seconds, base, ratio in rows:
        print(f"{what:<42} {seconds:>7.2f}s  {base:<30} {ratio:>5.2f}×")
    return figures


if __name__ == "__main__":
    main()
