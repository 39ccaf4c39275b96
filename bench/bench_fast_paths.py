"""The small measurements behind issue 24's choices (`docs/performance.md`), each an
interleaved A/B in one process, CPU time of this thread, one torch thread, medians:

- `nan_fill`: a CLIP and a CoMM training step in the default study's regime with
  deterministic mode's NaN fill of fresh memory on (PyTorch's default) and off (training's
  setting since issue 24);
- `nt_xent`: CoMM's two NT-Xent calls (13 terms, 64 rows, width 64), forward + backward,
  the autograd Function against the same formula as autograd ops;
- `subnormal_bmm`: the gate's (3, 256, 128) @ (3, 128, 64) float32 batched matmul with and
  without subnormal numbers in its right operand (what the cross-entropy's softmax sends back);
- `softmax_axis`: the CLS attention's masked softmax over 13 keys for 3,584 (row, view,
  head) triples, over the leading axis (kept) and over the last axis (tried).

    .venv/bin/python -m bench fast_paths
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from bench import _regime
from robustlab.methods.nt_xent import nt_xent_terms, nt_xent_terms_autograd

ROUNDS = 9


def _interleaved(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median CPU seconds per call of each case, rounds interleaved across cases."""
    for fn in cases.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(ROUNDS):
        for name, fn in cases.items():
            start = time.thread_time()
            for _ in range(repeats):
                fn()
            times[name].append((time.thread_time() - start) / repeats)
    return {k: statistics.median(v) for k, v in times.items()}


def _nan_fill() -> dict[str, float]:
    import torch.utils.deterministic

    settings: object = torch.utils.deterministic
    study = _regime.plan()
    out = {}
    with _regime.trial_conditions():
        for name in ("clip", "comm"):
            run = _regime.setup(study, name)
            batches = run.epoch(1)[:5]

            def steps(fill: bool, run: _regime.Run = run, batches: list = batches) -> None:
                setattr(settings, "fill_uninitialized_memory", fill)  # noqa: B010
                run.steps(batches, 0)

            res = _interleaved({"on": lambda: steps(True), "off": lambda: steps(False)}, 2)
            setattr(settings, "fill_uninitialized_memory", False)  # noqa: B010
            out[f"{name}_off_over_on"] = res["off"] / res["on"]
    return out


def _nt_xent() -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    z1, z3 = (torch.randn(t, 64, 64, generator=g, requires_grad=True) for t in (7, 6))
    z2 = torch.randn(1, 64, 64, generator=g, requires_grad=True)
    rows = torch.ones(7, 64, dtype=torch.bool)

    def loss(fn: Callable[..., torch.Tensor]) -> None:
        (fn(z1, z2, 0.1, rows).sum() + fn(z3, z2, 0.1, rows[:6]).sum()).backward()

    res = _interleaved({"function": lambda: loss(nt_xent_terms),
                        "autograd": lambda: loss(nt_xent_terms_autograd)}, 20)
    return {"function_ms": 1e3 * res["function"], "autograd_ms": 1e3 * res["autograd"]}


def _subnormal_bmm() -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(3, 128, 256, generator=g).transpose(1, 2)  # (3, 256, 128), as there
    normal = torch.randn(3, 128, 64, generator=g) * 1e-3
    subnormal = normal.clone()
    subnormal.view(-1)[::50] = 1e-40
    res = _interleaved({"normal": lambda: torch.bmm(keys, normal),
                        "subnormal": lambda: torch.bmm(keys, subnormal)}, 20)
    return {"normal_ms": 1e3 * res["normal"], "subnormal_ms": 1e3 * res["subnormal"]}


def _softmax_axis() -> dict[str, float]:
    g = torch.Generator().manual_seed(0)
    leading = torch.randn(13, 128, 7, 4, generator=g)
    last = leading.permute(1, 2, 3, 0).contiguous()
    res = _interleaved({"leading": lambda: torch.softmax(leading, dim=0),
                        "last": lambda: torch.softmax(last, dim=-1)}, 50)
    return {"leading_ms": 1e3 * res["leading"], "last_ms": 1e3 * res["last"]}


def main() -> dict[str, object]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        figures = {"nan_fill": _nan_fill(), "nt_xent": _nt_xent(),
                   "subnormal_bmm": _subnormal_bmm(), "softmax_axis": _softmax_axis()}
    finally:
        torch.set_num_threads(before)
    for name, values in figures.items():
        print(f"{name:>14}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    print(f"(CPU time, medians of {ROUNDS} interleaved rounds; load average "
          f"{_regime.load_average()})")
    return {**figures, "load_average": _regime.load_average()}
