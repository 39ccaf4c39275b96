"""Where a training step's time goes, per method, in the default study's regime (issue 24).

Each variant of `studies/missing_modality.yaml` (see `bench/_regime.py`: batch 64, mlp
64/2/128, options resolved for retrieval, one thread, training's deterministic kernels)
takes steps of `robustlab.train.train_step`. The functions that compute a step's parts are
wrapped for the duration of the run (nothing in the library changes) so that their time is
charged to a named part:

- forward: the part's own time, Python included (nested parts are charged to themselves);
- backward: every autograd node is charged to the part whose forward created it; what the
  backward call spends outside the nodes' ops (the engine, Python) is a row of its own, as
  are accumulating gradients into the parameters, clipping, AdamW and zero_grad;
- "ops" is the number of aten ops the part dispatches per step (forward and backward).

Times are this thread's CPU time (`time.thread_time`), not wall time: the machine is shared
and other jobs' load would land on whichever op was running. Two passes: one with only the
part wrappers (the forward and phase times, median of `ROUNDS` rounds of `STEPS` steps), one
that also times every aten op (which op belongs to which part; its own overhead is kept out
of the first pass's figures).

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
from torch.utils._python_dispatch import TorchDispatchMode

from bench import _regime
from robustlab.core import gate as gate_module
from robustlab.methods import comm, common, coral, fusion

STEPS = 10
ROUNDS = 5
ENGINE = "backward: engine + accum."
REST = "step: rest (Python, sync)"

# (owner, attribute, part): a module-level function is patched in every module that
# imported it by name
PARTS: list[tuple[Any, str, str]] = [
    (common.EmbeddingMethod, "embed_batch", "encoders"),
    (fusion.FusionEncoder, "tokenize", "encoders + tokenizers"),
    (fusion.FusionMethod, "augmented_inputs", "augment + masks"),
    (coral.Coral, "draw_views", "augment + masks"),
    (fusion.FusionEncoder, "fuse_views", "view keep masks"),
    (fusion.FusionTransformer, "forward", "fusion transformer"),
    (coral.Coral, "unique_embeddings", "unique path"),
    (coral.Coral, "uniques", "unique path"),
    (fusion, "nt_xent_terms", "NT-Xent"),
    (comm, "nt_xent_terms", "NT-Xent"),
    (coral, "nt_xent_terms", "NT-Xent"),
    (coral, "orthogonality", "orthogonality"),
    (gate_module.ModalityGate, "_batch_beta", "gate: keep weights"),
    (gate_module, "gated_product", "gate: gated product"),
    # the autograd form's parts (before issue 24; still the path of the other gate types)
    (gate_module.ModalityGate, "_keys", "gate: keep weights"),
    (gate_module.ModalityGate, "_logits", "gate: keep weights"),
    (gate_module.ModalityGate, "_null_logits", "gate: keep weights"),
    (gate_module.ModalityGate, "_probs", "gate: keep weights"),
    (gate_module.ModalityGate, "_beta", "gate: keep weights"),
    (gate_module, "batch_scores", "gate: gated product"),
    (torch.Tensor, "backward", ENGINE),
    (torch.nn.utils, "clip_grad_norm_", "clip grad norm"),
]


class _Clock:
    """Thread CPU time per part; with `attribute`, also the backward time of every autograd
    node, charged to the part whose forward created it (node hooks)."""

    def __init__(self, attribute: bool) -> None:
        self.attribute = attribute
        self.own: dict[str, float] = defaultdict(float)  # exclusive seconds
        self.bwd: dict[str, float] = defaultdict(float)
        self.stack: list[list[Any]] = []  # [part, seconds spent in nested parts]
        self.seen: set[int] = set()

    def run(self, part: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.stack.append([part, 0.0])
        start = time.thread_time()
        try:
            out = fn(*args, **kwargs)
        finally:
            spent = time.thread_time() - start
            _, nested = self.stack.pop()
            self.own[part] += spent - nested
            if self.stack:
                self.stack[-1][1] += spent
        if self.attribute:
            self._claim(out, part)
        return out

    @property
    def part(self) -> str:
        return self.stack[-1][0] if self.stack else REST

    def _claim(self, out: Any, part: str) -> None:
        """Time the backward of every autograd node behind `out` not yet claimed, as `part`."""
        values = out.values() if isinstance(out, dict) else \
            out if isinstance(out, list | tuple) else [out]
        todo = [t.grad_fn for t in values if isinstance(t, torch.Tensor) and t.grad_fn]
        while todo:
            node = todo.pop()
            seq = node._sequence_nr()
            if seq in self.seen or "AccumulateGrad" in node.name():
                continue
            self.seen.add(seq)
            start: list[float] = []
            node.register_prehook(lambda _, start=start: start.append(time.thread_time()))
            node.register_hook(lambda _i, _o, start=start, part=part: self._stop(part, start))
            todo.extend(n for n, _ in node.next_functions if n is not None)

    def _stop(self, part: str, start: list[float]) -> None:
        self.bwd[part] += time.thread_time() - start.pop()


class _OpCount(TorchDispatchMode):
    """How many aten ops each part dispatches (forward: the innermost part; backward: the
    part that created the running node)."""

    def __init__(self, clock: _Clock, node_part: dict[int, str]) -> None:
        super().__init__()
        self.clock, self.node_part = clock, node_part
        self.count: dict[str, int] = defaultdict(int)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                           kwargs: Any = None) -> Any:
        node = torch._C._current_autograd_node()
        part = self.clock.part if node is None else self.node_part.get(node._sequence_nr(),
                                                                        ENGINE)
        self.count[part] += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def _patched(owner: Any, attr: str, wrapper: Callable[..., Any]) -> Iterator[None]:
    original, own = getattr(owner, attr), attr in vars(owner)
    setattr(owner, attr, wrapper(original))
    try:
        yield
    finally:
        if own:
            setattr(owner, attr, original)
        else:  # an instance's bound method: drop the override, back to the class's
            delattr(owner, attr)


@contextmanager
def _parts(run: _regime.Run, clock: _Clock) -> Iterator[None]:
    def wrap(part: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return lambda fn: lambda *a, **k: clock.run(part, fn, *a, **k)

    with ExitStack() as stack:
        for owner, attr, part in PARTS:
            if hasattr(owner, attr):
                stack.enter_context(_patched(owner, attr, wrap(part)))
        stack.enter_context(_patched(run.method, "loss", wrap("loss: rest")))
        stack.enter_context(_patched(run.optimizer, "step", wrap("AdamW step")))
        stack.enter_context(_patched(run.optimizer, "zero_grad", wrap("zero_grad")))
        heads = [getattr(run.method, "head", None), getattr(run.method, "unique_heads", None)]
        for module in heads:  # the fusion methods' projection heads, per instance
            if module is not None:
                stack.enter_context(_patched(module, "forward", wrap("projection heads")))
        yield


def _pass(run: _regime.Run, batches: list[Any], seed: int, attribute: bool
          ) -> tuple[_Clock, float]:
    """Run the steps with the parts timed (and their backward nodes, with `attribute`);
    -> the clock and the thread seconds per step."""
    clock = _Clock(attribute)
    with _parts(run, clock):
        start = time.thread_time()
        for batch in batches:
            clock.seen.clear()
            run.steps([batch], seed)
        return clock, (time.thread_time() - start) / len(batches)


def _op_counts(run: _regime.Run, batch: Any) -> dict[str, int]:
    """Aten ops per part in one step (a separate step: counting slows every op)."""
    clock, node_part = _Clock(False), {}
    original = clock.run

    def run_and_map(part: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        out = original(part, fn, *args, **kwargs)
        values = out.values() if isinstance(out, dict) else \
            out if isinstance(out, list | tuple) else [out]
        todo = [t.grad_fn for t in values if isinstance(t, torch.Tensor) and t.grad_fn]
        while todo:
            node = todo.pop()
            if node._sequence_nr() in node_part or "AccumulateGrad" in node.name():
                continue
            node_part[node._sequence_nr()] = part
            todo.extend(n for n, _ in node.next_functions if n is not None)
        return out

    clock.run = run_and_map  # type: ignore[method-assign]
    counter = _OpCount(clock, node_part)
    with _parts(run, clock), counter:
        run.steps([batch], 0)
    return dict(counter.count)


def _profile(run: _regime.Run, batches: list[Any]) -> dict[str, dict[str, float]]:
    """part -> {fwd, bwd, ops}: forward and phase times from rounds without node hooks
    (medians), the backward call's time split over the parts in the proportions the hooked
    pass measured; the engine's own time (and accumulating gradients) is what the nodes
    leave of the backward call."""
    rounds = [_pass(run, batches[:STEPS], k, attribute=False) for k in range(ROUNDS)]
    step_s = statistics.median(r[1] for r in rounds)
    parts = set().union(*(r[0].own for r in rounds))
    own = {p: statistics.median(r[0].own.get(p, 0.0) for r in rounds) / STEPS for p in parts}
    hooked, _ = _pass(run, batches[:STEPS], 0, attribute=True)
    backward, hooked_backward = own.pop(ENGINE, 0.0), hooked.own.get(ENGINE, 0.0) / STEPS
    share = {p: t / STEPS / hooked_backward for p, t in hooked.bwd.items()} \
        if hooked_backward else {}
    counts = _op_counts(run, batches[0])
    rows = {p: {"fwd": own.get(p, 0.0), "bwd": backward * share.get(p, 0.0),
                "ops": float(counts.get(p, 0))} for p in parts | set(share) | set(counts)}
    rows[ENGINE] = {"fwd": 0.0, "bwd": backward * max(0.0, 1.0 - sum(share.values())),
                    "ops": float(counts.get(ENGINE, 0))}
    rows[REST] = {"fwd": max(0.0, step_s - sum(r["fwd"] + r["bwd"] for r in rows.values())),
                  "bwd": 0.0, "ops": float(counts.get(REST, 0))}
    return {"step_s": {"total": step_s}, **rows}


def main() -> dict[str, object]:
    study = _regime.plan()
    names = [n for n in _regime.VARIANTS if n in {v.name for v in study.variants}]
    out: dict[str, object] = {}
    with _regime.trial_conditions():
        runs = [_regime.setup(study, n) for n in names]
        batches = {r.name: r.epoch(1) for r in runs}
        for run in runs:
            run.steps(batches[run.name][:3], seed=0)  # warm-up
        for run in runs:
            out[run.name] = _print(run.name, _profile(run, batches[run.name]))
    print(f"\n(CPU time of this thread; load average {_regime.load_average()})")
    return {"profiles": out, "load_average": _regime.load_average()}


def _print(name: str, rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    total = rows["step_s"]["total"]
    parts = {k: v for k, v in rows.items() if k != "step_s"}
    count = sum(r["ops"] for r in parts.values())
    print(f"\n{name}: {1e3 * total:.2f} ms per step, {count:.0f} aten ops")
    print(f"  {'part':<28} {'fwd':>6} {'bwd':>6} {'total':>6} {'share':>6} {'ops':>5} "
          f"{'us/op':>6}   (ms per step, CPU time)")
    for part, r in sorted(parts.items(), key=lambda kv: -(kv[1]["fwd"] + kv[1]["bwd"])):
        t = r["fwd"] + r["bwd"]
        per_op = f"{1e6 * t / r['ops']:>6.1f}" if r["ops"] else f"{'':>6}"
        print(f"  {part:<28} {1e3 * r['fwd']:>6.2f} {1e3 * r['bwd']:>6.2f} {1e3 * t:>6.2f} "
              f"{t / total:>6.0%} {r['ops']:>5.0f} {per_op}")
    return rows
