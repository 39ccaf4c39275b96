"""Training epochs of the default study's variants at another git revision and at this
checkout, interleaved in one process: before/after ratios that load on a shared machine
hits alike.

The revision's `robustlab` and `perturbations` are extracted (`git archive`) into a
temporary folder and renamed `robustlab_rev` / `perturbations_rev`, so both versions import
side by side; each builds the study's plan with its own code (`bench/_regime.py`: batch 64,
the options resolved for retrieval, one thread, deterministic kernels, the same seeds) and
runs whole training epochs through its own `train_step`. Epochs alternate revision ->
checkout, variant by variant; a figure is the median over `EPOCHS` epochs of this thread's
CPU time (the wall time is printed beside it).

    .venv/bin/python bench/compare_revisions.py main [EPOCHS] [VARIANT,VARIANT,...]

CLIP is always timed (the ratios divide by it); a variant list restricts the others.
"""

from __future__ import annotations

import importlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RENAME = re.compile(r"\b(robustlab|perturbations)\b")
# each revision reads its own copy of the study file: an older revision's strict spec
# rejects keys added since (final.until_decided, report.contrasts), none of which changes
# what an epoch trains
STUDY = "studies/missing_modality.yaml"


def extract(revision: str, dest: Path) -> None:
    """The revision's packages under `dest`, renamed with a `_rev` suffix."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "robustlab",
                              "perturbations", STUDY], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    for package in ("robustlab", "perturbations"):
        (dest / package).rename(dest / f"{package}_rev")
    for path in dest.rglob("*.py"):
        path.write_text(RENAME.sub(lambda m: m.group(1) + "_rev", path.read_text()))


class Version:
    """One revision's study plan and variants, ready to take epochs."""

    def __init__(self, prefix: str, names: list[str], study: Path) -> None:
        load = importlib.import_module(f"{prefix}.study.load")
        self.train: ModuleType = importlib.import_module(f"{prefix}.train")
        methods = importlib.import_module(f"{prefix}.methods")
        plan = load.load_plan(study)
        self.runs: dict[str, Any] = {}
        self.data = self.train._DeviceSplit(plan.dataset.split("train"), "cpu")
        for name in names:
            variant = next(v for v in plan.variants if v.name == name)
            method = methods.METHODS.get(variant.method).build(
                variant.options, plan.dataset.dims, plan.encoder, seed=0)
            optimizer = self.train.make_optimizer(method, plan.train)
            scheduler = self.train.warmup_cosine(optimizer, 0.1, 10_000)
            self.runs[name] = (method, optimizer, scheduler, variant.train_perturbation)
        self.config = plan.train

    def epoch(self, name: str, epoch: int) -> tuple[float, float]:
        """(CPU seconds, wall seconds) of training epoch `epoch` of variant `name`."""
        import torch

        method, optimizer, scheduler, op = self.runs[name]
        order, _, _, perturb = self.train._epoch_seeds(self.config.seed, epoch)
        source = self.data if op is None else self.data.perturbed(op, perturb)
        batches = list(source.batches(self.config.batch_size, order))
        generator = torch.Generator().manual_seed(epoch)
        start, wall = time.thread_time(), time.perf_counter()
        with self.train._deterministic(torch.device("cpu")):
            for batch in batches:
                self.train.train_step(method, batch, generator, optimizer, scheduler,
                                      self.config)
        return time.thread_time() - start, time.perf_counter() - wall


def main(revision: str, epochs: int, only: list[str] | None = None) -> None:
    import torch

    from bench import _regime

    torch.set_num_threads(1)
    names = [n for n in _regime.VARIANTS if only is None or n == "clip" or n in only]
    with tempfile.TemporaryDirectory(prefix="robustlab-rev-") as tmp:
        extract(revision, Path(tmp))
        sys.path.insert(0, tmp)
        versions = {revision: Version("robustlab_rev", names, Path(tmp) / STUDY),
                    "this": Version("robustlab", names, ROOT / STUDY)}
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for e in range(epochs + 1):  # epoch 0: warm-up, not counted
            for name in names:
                for label, version in versions.items():
                    took = version.epoch(name, e + 1)
                    if e:
                        times.setdefault((label, name), []).append(took)
    _print(revision, names, times, epochs)


def _print(revision: str, names: list[str], times: dict[tuple[str, str], list[Any]],
           epochs: int) -> None:
    from bench import _regime

    cpu = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    wall = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    print(f"training epochs, default study's regime, {revision} vs this checkout, "
          f"{epochs} interleaved epochs (median CPU s; wall s in brackets); load average "
          f"{_regime.load_average()}")
    print(f"{'variant':>26} | {revision:>15} | {'this':>15} | {'this/' + revision:>10} | "
          f"{'vs clip before':>14} | {'vs clip after':>13}")
    for name in names:
        before, after = cpu[(revision, name)], cpu[("this", name)]
        print(f"{name:>26} | {before:6.3f} ({wall[(revision, name)]:6.3f}) | "
              f"{after:6.3f} ({wall[('this', name)]:6.3f}) | {after / before:>9.3f}x | "
              f"{before / cpu[(revision, 'clip')]:>13.2f}x | "
              f"{after / cpu[('this', 'clip')]:>12.2f}x")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5,
         sys.argv[3].split(",") if len(sys.argv) > 3 else None)
