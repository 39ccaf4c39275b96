"""Where a training step's time goes, per method, in the default study's regime (issue 24).

Each variant of `studies/missing_modality.yaml` (see `bench/_regime.py`: batch 64, mlp
64/2/128, options resolved for retrieval, one thread, training's deterministic kernels)
takes `STEPS` steps of `robustlab.train.train_step` under the torch profiler, after warm-up.
The step's parts are marked by wrapping the functions that compute them in
`record_function` regions for the duration of the run (nothing in the library changes):

- forward: the region's own time, split into the time inside aten ops and the rest
  (Python and dispatch between them);
- backward: every autograd node is charged to the region whose forward op created it (the
  profiler's sequence numbers link the two); gradient accumulation into the parameters and
  the engine's own time between nodes are rows of their own;
- the rest of `train_step`: gradient clipping, AdamW, zero_grad, and what is left (the one
  device-to-host copy of the logged numbers, Python).

The profiler costs about a microsecond per op, so op-heavy parts read high: the header gives
the unprofiled step time (median of `ROUNDS` rounds) beside the profiled one.

    .venv/bin/python -m bench step_profile
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch.autograd.profiler_util import FunctionEvent
from torch.profiler import ProfilerActivity, profile, record_function

from bench import _regime
from robustlab.core import gate as gate_module
from robustlab.methods import comm, common, coral, fusion

STEPS = 10
ROUNDS = 5
TAG = "§"  # marks our regions among the profiler's events
ENGINE = "autograd::engine::evaluate_function: "


def _wrapped(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def inner(*args: Any, **kwargs: Any) -> Any:
        with record_function(TAG + name):
            return fn(*args, **kwargs)
    return inner


@contextmanager
def _patched(owner: Any, attr: str, name: str) -> Iterator[None]:
    original, own = getattr(owner, attr), attr in vars(owner)
    setattr(owner, attr, _wrapped(name, original))
    try:
        yield
    finally:
        if own:
            setattr(owner, attr, original)
        else:  # an instance's bound method: drop the override, back to the class's
            delattr(owner, attr)


# (owner, attribute, region): a module-level function is patched in every module that
# imported it by name
REGIONS: list[tuple[Any, str, str]] = [
    (common.EmbeddingMethod, "embed_batch", "encoders"),
    (fusion.FusionEncoder, "tokenize", "encoders + tokenizers"),
    (fusion.FusionMethod, "augmented_inputs", "augment + masks"),
    (coral.Coral, "draw_views", "augment + masks"),
    (fusion.FusionEncoder, "fuse_views", "view keep masks"),
    (fusion.FusionTransformer, "forward", "fusion transformer"),
    (coral.Coral, "uniques", "unique path"),
    (fusion, "nt_xent_terms", "NT-Xent"),
    (comm, "nt_xent_terms", "NT-Xent"),
    (coral, "nt_xent_terms", "NT-Xent"),
    (coral, "orthogonality", "orthogonality"),
    (gate_module.ModalityGate, "_keys", "gate: keys"),
    (gate_module.ModalityGate, "_logits", "gate: queries + logits"),
    (gate_module.ModalityGate, "_null_logits", "gate: NULL head"),
    (gate_module.ModalityGate, "_probs", "gate: keep weights"),
    (gate_module.ModalityGate, "_beta", "gate: keep weights"),
    (gate_module, "batch_scores", "gate: gated product"),
    (gate_module, "fast_scores", "gate: gated product"),
    (gate_module, "fast_pair_scores", "gate: gated product"),
    (torch.Tensor, "backward", "backward"),
    (torch.nn.utils, "clip_grad_norm_", "clip grad norm"),
]


@contextmanager
def _regions(run: _regime.Run) -> Iterator[None]:
    with ExitStack() as stack:
        for owner, attr, name in REGIONS:
            if hasattr(owner, attr):
                stack.enter_context(_patched(owner, attr, name))
        stack.enter_context(_patched(run.method, "loss", "loss: rest"))
        heads = [getattr(run.method, "head", None),
                 *getattr(run.method, "unique_heads", {}).values()]
        for module in heads:  # the fusion methods' projection heads, per instance
            if module is not None:
                stack.enter_context(_patched(module, "forward", "projection heads"))
        yield


def _region_of(event: FunctionEvent) -> str | None:
    """The innermost of our regions around `event`."""
    node = event.cpu_parent
    while node is not None:
        if node.name.startswith(TAG):
            return node.name[len(TAG):]
        node = node.cpu_parent
    return None


def _claimed(event: FunctionEvent) -> float:
    """Time of the descendants charged elsewhere: nested regions and autograd nodes."""
    total = 0.0
    for child in event.cpu_children:
        if child.name.startswith(TAG) or child.name.startswith(ENGINE):
            total += child.cpu_time_total
        else:
            total += _claimed(child)
    return total


def _attribute(events: list[FunctionEvent]) -> dict[str, dict[str, float]]:
    """region -> {fwd_ops, fwd_py, bwd, ops} in microseconds (ops: a count), summed."""
    rows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    origin: dict[int, str] = {}
    for e in events:
        if e.name.startswith(TAG):
            name = e.name[len(TAG):]
            own = e.cpu_time_total - _claimed(e)
            ops = [c for c in e.cpu_children
                   if not c.name.startswith(TAG) and not c.name.startswith(ENGINE)]
            in_ops = sum(c.cpu_time_total - _claimed(c) for c in ops)
            rows[name]["fwd_ops"] += in_ops
            rows[name]["fwd_py"] += own - in_ops
            rows[name]["ops"] += len(ops)
        elif not e.name.startswith(ENGINE) and e.sequence_nr >= 0:
            region = _region_of(e)
            if region is not None and e.sequence_nr not in origin:
                origin[e.sequence_nr] = region
    for e in events:
        if e.name.startswith(ENGINE):
            if "AccumulateGrad" in e.name:
                region = "backward: accumulate grads"
            else:
                region = origin.get(e.sequence_nr, "backward: unattributed")
            rows[region]["bwd"] += e.cpu_time_total
            rows[region]["ops"] += 1
        elif e.name.startswith("Optimizer.") and e.cpu_parent is None:
            name = "AdamW step" if ".step" in e.name else "zero_grad"
            rows[name]["fwd_ops"] += e.cpu_time_total
    if "backward" in rows:  # what the region kept is the engine's own time
        rows["backward: engine"] = rows.pop("backward")
    return rows


def _profile(run: _regime.Run, batches: list[Any]) -> tuple[dict[str, dict[str, float]], float]:
    with _regions(run), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        run.steps(batches[:STEPS], seed=1)
        wall = time.perf_counter() - start
    return _attribute(list(prof.events())), wall


def _unprofiled(runs: list[_regime.Run], batches: dict[str, list[Any]]) -> dict[str, float]:
    """Median seconds per step over interleaved rounds of STEPS steps."""
    times: dict[str, list[float]] = {r.name: [] for r in runs}
    for k in range(ROUNDS):
        for run in runs:
            start = time.perf_counter()
            run.steps(batches[run.name][:STEPS], seed=k)
            times[run.name].append((time.perf_counter() - start) / STEPS)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> dict[str, object]:
    study = _regime.plan()
    names = [n for n in _regime.VARIANTS if n in {v.name for v in study.variants}]
    out: dict[str, object] = {}
    with _regime.trial_conditions():
        runs = [_regime.setup(study, n) for n in names]
        batches = {r.name: r.epoch(1) for r in runs}
        for run in runs:
            run.steps(batches[run.name][:3], seed=0)  # warm-up
        step_s = _unprofiled(runs, batches)
        for run in runs:
            rows, wall = _profile(run, batches[run.name])
            out[run.name] = _table(run.name, rows, wall / STEPS, step_s[run.name])
    print(f"(load average {_regime.load_average()})")
    return {"profiles": out, "step_s": step_s, "load_average": _regime.load_average()}


def _table(name: str, rows: dict[str, dict[str, float]], profiled_s: float,
           step_s: float) -> dict[str, dict[str, float]]:
    per_step = {k: {f: v / STEPS for f, v in r.items()} for k, r in rows.items()}
    accounted = sum(r.get("fwd_ops", 0) + r.get("fwd_py", 0) + r.get("bwd", 0)
                    for r in per_step.values())
    per_step["step: rest (sync, Python)"] = {"fwd_py": max(0.0, profiled_s * 1e6 - accounted)}
    print(f"\n{name}: {1e3 * step_s:.2f} ms/step unprofiled, {1e3 * profiled_s:.2f} ms "
          f"profiled ({sum(r.get('ops', 0) for r in per_step.values()):.0f} ops + nodes)")
    print(f"  {'part':<28} {'fwd ops':>8} {'fwd py':>7} {'bwd':>7} {'total':>7} {'share':>6} "
          f"{'ops':>5}   (ms per step)")
    total_us = profiled_s * 1e6
    order = sorted(per_step.items(), key=lambda kv: -sum(kv[1].get(f, 0.0) for f in
                                                         ("fwd_ops", "fwd_py", "bwd")))
    for part, r in order:
        t = r.get("fwd_ops", 0.0) + r.get("fwd_py", 0.0) + r.get("bwd", 0.0)
        print(f"  {part:<28} {r.get('fwd_ops', 0) / 1e3:>8.2f} {r.get('fwd_py', 0) / 1e3:>7.2f} "
              f"{r.get('bwd', 0) / 1e3:>7.2f} {t / 1e3:>7.2f} {t / total_us:>6.0%} "
              f"{r.get('ops', 0):>5.0f}")
    return per_step
