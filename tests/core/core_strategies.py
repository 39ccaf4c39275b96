"""Hypothesis strategies and tolerance helpers shared by the tests/core property tests.

Tensors are drawn as (seed, shape, dtype, per-modality power-of-ten scale): Hypothesis shrinks
the seed and the shape, and the scales cover tiny and large norms. Tolerances are relative to
a magnitude bound of the quantity compared (e.g. Σ_k |x_k y_k z_k| for a MIP), so one rtol
serves every scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import Tensor

from robustlab.core import ModalityGate

DTYPES = (torch.float32, torch.float64)
RTOL = {torch.float32: 5e-5, torch.float64: 1e-11}

dtypes = st.sampled_from(DTYPES)
seeds = st.integers(0, 2**32 - 1)


def randn(seed: int, shape: tuple[int, ...], dtype: torch.dtype, scale: float = 1.0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype) * scale


@st.composite
def embedding_sets(draw: st.DrawFn, min_m: int = 2, max_m: int = 4, min_b: int = 1,
                   max_b: int = 6, max_d: int = 12, exp_range: int = 3) -> list[Tensor]:
    """M aligned batches (B, D); each modality scaled by its own 10^k, |k| <= exp_range."""
    m = draw(st.integers(min_m, max_m))
    b, d = draw(st.integers(min_b, max_b)), draw(st.integers(1, max_d))
    dtype, seed = draw(dtypes), draw(seeds)
    exps = draw(st.lists(st.integers(-exp_range, exp_range), min_size=m, max_size=m))
    return [randn(seed + i, (b, d), dtype, 10.0**k) for i, k in enumerate(exps)]


def assert_close(actual: Tensor, expected: Tensor, magnitude: Tensor | float,
                 dtype: torch.dtype, factor: float = 1.0) -> None:
    """|actual - expected| <= factor · rtol(dtype) · magnitude, elementwise."""
    tol = factor * RTOL[dtype] * torch.as_tensor(magnitude, dtype=torch.float64) + 1e-300
    diff = (actual.double() - expected.double()).abs()
    bad = diff > tol
    assert not bad.any(), (f"max |diff| {diff.max().item():.3e}; at the worst element tol "
                           f"{torch.broadcast_to(tol, diff.shape)[bad].min().item():.3e}")


@dataclass(frozen=True)
class GateCase:
    gate: ModalityGate
    target: int
    context: list[Tensor]   # M-1 tensors (B, D)
    candidates: Tensor      # (C, D)
    dtype: torch.dtype


def randomize_gate(gate: ModalityGate, seed: int) -> ModalityGate:
    """Move every scalar parameter off its init so the gate is far from trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if gate.use_null:
            gate.null_bias.copy_(torch.randn(gate.null_bias.shape, generator=gen) * 2)
        if hasattr(gate, "log_temp"):  # absent in the matrix mode without NULL (unused)
            gate.log_temp.copy_(torch.randn((), generator=gen) * 0.5)
        if gate.mode == "matrix":
            gate.matrix_logits.copy_(torch.randn(gate.matrix_logits.shape, generator=gen) * 2)
    return gate


@st.composite
def gates(draw: st.DrawFn, m: int, d: int, dtype: torch.dtype, **fixed: object) -> ModalityGate:
    """A gate with drawn ablation switches (any of them can be pinned through `fixed`)."""
    options: dict[str, object] = {
        "neutral": draw(st.sampled_from(["learned", "frozen", "ones", "none"])),
        "gate_type": draw(st.sampled_from(["sigmoid", "softmax"])),
        "mode": draw(st.sampled_from(["attention", "matrix"])),
        "use_null": draw(st.booleans()),
        "strength_init": draw(st.floats(-3, 3)),
        "key_dim": draw(st.integers(2, 6)),
        "seed": draw(st.integers(0, 1000)),
    }
    for key, value in fixed.items():  # a pinned value, or a narrower strategy to draw from
        options[key] = draw(value) if isinstance(value, st.SearchStrategy) else value
    gate = ModalityGate(m, d, **options)  # type: ignore[arg-type]
    gate = randomize_gate(gate, draw(seeds))
    return gate.double() if dtype == torch.float64 else gate


@st.composite
def gate_cases(draw: st.DrawFn, min_m: int = 2, max_m: int = 4, exp_range: int = 2,
               **fixed: object) -> GateCase:
    m = draw(st.integers(min_m, max_m))
    b, c, d = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 10))
    dtype, seed = draw(dtypes), draw(seeds)
    exps = draw(st.lists(st.integers(-exp_range, exp_range), min_size=m, max_size=m))
    gate = draw(gates(m, d, dtype, **fixed))
    target = draw(st.integers(0, m - 1))
    context = [randn(seed + i, (b, d), dtype, 10.0**k) for i, k in enumerate(exps[:-1])]
    candidates = randn(seed + m, (c, d), dtype, 10.0 ** exps[-1])
    return GateCase(gate, target, context, candidates, dtype)
