"""How far training amplifies float rounding, the yardstick for the determinism check of
issue 24. First, per variant, one float32 step in the default study's regime with the same
weights and batch at a git revision and at this checkout (a revision before issue 24's
stacked storage has its per-modality tensors matched to the stacked ones by name): the loss
and the largest relative difference of a parameter's gradient. Then each variant trained at
the smoke budget with the best config a results folder recorded, (a) at the revision, (b) at
this checkout, (c) at the revision with every initial weight multiplied by
(1 + 1e-7·N(0, 1)) — a perturbation of float32 rounding size. If (a)–(b) is as far apart as
(a)–(c), the new code's difference is rounding, amplified by training, not a change of the
loss.

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


# stacked parameter name (issue 24) -> its per-modality name before, "{m}" the modality
PER_MODALITY = [
    (".encoders.stack.", ".encoders.{m}."), ("embed.missing", "embed.missing.{m}"),
    ("unique_encoders.missing", "unique_encoders.missing.{m}"),
    ("fusion.tokenizers.", "fusion.tokenizers.{m}."),
    ("unique.tokenizer.", "unique.{m}.tokenizer."),
    ("unique.token_mlp.first.", "unique.{m}.token_mlp.0."),
    ("unique.token_mlp.second.", "unique.{m}.token_mlp.2."),
    ("unique.query", "unique.{m}.pool.query"),
    ("unique_heads.first.", "unique_heads.{m}.0."), ("unique_heads.second.", "unique_heads.{m}.2."),
]


def matched(before: Any, after: Any) -> dict[str, Any]:
    """`after`'s parameters by name, each with the tensor of `before` it holds: the same name,
    or — a parameter stacked over the modalities where `before` kept one per modality — the
    per-modality tensors stacked in modality order."""
    import torch

    old = dict(before.named_parameters())
    out = {}
    for name, _ in after.named_parameters():
        if name in old:
            out[name] = old[name]
            continue
        rule = next((r for r in PER_MODALITY if r[0] in name), None)
        if rule is None:
            raise KeyError(f"no parameter of the revision matches {name}")
        pattern = name.replace(rule[0], rule[1])
        out[name] = torch.stack([old[pattern.format(m=m)] for m in after.modalities])
    return out


def first_step(names: list[str]) -> None:
    """Loss and gradients of one step at both revisions, the same weights and batch."""
    import torch

    from bench.compare_revisions import Version

    old, new = Version("robustlab_rev", names), Version("robustlab", names)
    batch = next(iter(new.data.batches(new.config.batch_size, 1)))
    for name in names:
        before, after = old.runs[name][0], new.runs[name][0]
        with torch.no_grad():
            for (_, p), (_, q) in zip(after.named_parameters(), matched(before, after).items(),
                                      strict=True):
                p.copy_(q)
        losses = [m.loss(batch, torch.Generator().manual_seed(3))["loss"]
                  for m in (before, after)]
        grads = [torch.autograd.grad(losses[0], list(before.parameters())),
                 torch.autograd.grad(losses[1], list(after.parameters()))]
        by_name = dict(zip(dict(before.named_parameters()), grads[0], strict=True))
        stacked = matched(_Grads(by_name), after)  # the revision's gradients, matched
        rel = max(float((x - y).norm() / x.norm().clamp_min(1e-30))
                  for x, y in zip(stacked.values(), grads[1], strict=True))
        print(f"{name}: one step, same weights and batch: loss {losses[0].item():.9g} vs "
              f"{losses[1].item():.9g}; largest relative gradient difference {rel:.1e}")


class _Grads:
    """Named gradients that `matched` reads as if they were a module's parameters."""

    def __init__(self, by_name: dict[str, Any]) -> None:
        self.by_name = by_name

    def named_parameters(self) -> Any:
        return iter(self.by_name.items())


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
