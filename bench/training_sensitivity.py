"""How far training amplifies float rounding, the yardstick for the determinism check of
issue 24. First, per variant, one float32 step in the default study's regime with the same
weights and batch at a git revision and at this checkout: the loss and the largest relative
difference of a parameter's gradient. Then each variant trained at the smoke budget with the
best config a results folder recorded, (a) at the revision, (b) at this checkout, (c) at the
revision with every initial weight multiplied by (1 + 1e-7·N(0, 1)) — a perturbation of
float32 rounding size. If (a)–(b) is as far apart as (a)–(c), the new code's difference is
rounding, amplified by training, not a change of the loss.

    .venv/bin/python bench/training_sensitivity.py main RESULTS_DIR comm,coral,gated_symile
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def trained_predictions(prefix: str, name: str, best: dict[str, Any], perturb: float) -> Any:
    """Test-split predictions (sorted by example) of `name` trained at the smoke budget."""
    import torch

    load = importlib.import_module(f"{prefix}.study.load")
    train = importlib.import_module(f"{prefix}.train")
    evaluate = importlib.import_module(f"{prefix}.evaluate")
    methods = importlib.import_module(f"{prefix}.methods")
    plan = load.load_plan(ROOT / "studies" / "missing_modality.yaml", smoke=True)
    variant = next(v for v in plan.variants if v.name == name)
    fields = {f.name for f in dataclasses.fields(plan.train)}
    config = dataclasses.replace(plan.train, device="cpu",
                                 **{k: v for k, v in best.items() if k in fields})
    options = dataclasses.replace(variant.options,
                                  **{k: v for k, v in best.items() if k not in fields})
    method = methods.METHODS.get(variant.method).build(options, plan.dataset.dims,
                                                       plan.encoder, seed=0)
    if perturb:
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in method.parameters():
                p.mul_(1 + perturb * torch.randn(p.shape, generator=g))
    train.train(method, plan.dataset, config, task=plan.task,
                train_perturbation=variant.train_perturbation)
    frame = evaluate.evaluate(method, plan.dataset, plan.dataset.split("test"),
                              task=plan.task, seed=0)
    return frame.sort("example_id")


def first_step(names: list[str]) -> None:
    """Loss and gradients of one step at both revisions, the same weights and batch."""
    import torch

    from bench.compare_revisions import Version

    old, new = Version("robustlab_rev", names), Version("robustlab", names)
    batch = next(iter(new.data.batches(new.config.batch_size, 1)))
    for name in names:
        before, after = old.runs[name][0], new.runs[name][0]
        after.load_state_dict(before.state_dict())
        losses = [m.loss(batch, torch.Generator().manual_seed(3))["loss"]
                  for m in (before, after)]
        grads = [torch.autograd.grad(loss, list(m.parameters()))
                 for loss, m in zip(losses, (before, after), strict=True)]
        rel = max(float((x - y).norm() / x.norm().clamp_min(1e-30))
                  for x, y in zip(*grads, strict=True))
        print(f"{name}: one step, same weights and batch: loss {losses[0].item():.9g} vs "
              f"{losses[1].item():.9g}; largest relative gradient difference {rel:.1e}")


def main(revision: str, folder: str, names: list[str]) -> None:
    import torch

    from bench.compare_revisions import extract

    torch.set_num_threads(1)
    best = json.loads((Path(folder) / "manifest.json").read_text())["methods"]
    with tempfile.TemporaryDirectory(prefix="robustlab-rev-") as tmp:
        extract(revision, Path(tmp))
        sys.path.insert(0, tmp)
        first_step(names)
        for name in names:
            config = best[name]["best_config"]
            old = trained_predictions("robustlab_rev", name, config, 0.0)
            for label, other in (
                    ("this checkout", trained_predictions("robustlab", name, config, 0.0)),
                    (f"{revision}, weights x (1 + 1e-7 N)",
                     trained_predictions("robustlab_rev", name, config, 1e-7))):
                d = (old["score_margin"] - other["score_margin"]).abs().max()
                changed = int((old["rank"] != other["rank"]).sum())
                print(f"{name}: {revision} vs {label}: max |d score_margin| {d:.2e}, ranks "
                      f"changed {changed}/{old.height}, top-1 {old['correct'].mean():.4f} vs "
                      f"{other['correct'].mean():.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(","))
