"""The gate's computational forms: fast vs direct parity (forward and backward), batch
equivariance, tuple scoring, zero-norm safety and bf16 autocast (issue 2)."""

from __future__ import annotations

import torch
from core_strategies import RTOL, GateCase, assert_close, gate_cases, randn, seeds
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.core import ModalityGate


def _bound(case: GateCase) -> torch.Tensor:
    m, d = case.gate.num_modalities, case.gate.dim
    return case.candidates.norm(dim=1)[None, :].double() * d ** ((m - 1) / 2) + 1e-30


def _grads(case: GateCase, weights: torch.Tensor, fast: bool, chunk: int,
           mask: list[torch.Tensor] | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Scores and the gradients of Σ weights·scores w.r.t. every input and gate parameter."""
    case.gate.zero_grad(set_to_none=True)
    context = [e.clone().requires_grad_() for e in case.context]
    cand = case.candidates.clone().requires_grad_()
    scores = case.gate.score(case.target, context, cand, fast=fast, chunk_size=chunk,
                             context_mask=mask)
    (scores * weights).sum().backward()
    grads = {f"context[{i}]": e.grad for i, e in enumerate(context)}
    grads["candidates"] = cand.grad
    grads.update({n: p.grad for n, p in case.gate.named_parameters() if p.grad is not None})
    return scores.detach(), grads


@settings(max_examples=50)
@given(gate_cases(hard_missing=st.booleans()), st.integers(1, 7), seeds, st.data())
def test_fast_equals_direct_forward_and_backward(case, chunk, seed, data):
    batch = case.context[0].shape[0]
    mask = None
    if case.gate.hard_missing:
        mask = [torch.tensor(data.draw(st.lists(st.booleans(), min_size=batch,
                                                max_size=batch))) for _ in case.context]
    weights = randn(seed, (batch, case.candidates.shape[0]), case.dtype)
    fast, fast_grads = _grads(case, weights, True, chunk, mask)
    direct, direct_grads = _grads(case, weights, False, chunk, mask)
    assert_close(fast, direct, _bound(case), case.dtype, factor=20)
    assert fast_grads.keys() == direct_grads.keys()
    values = {f"context[{i}]": e for i, e in enumerate(case.context)}
    values["candidates"] = case.candidates
    params = dict(case.gate.named_parameters())
    total = float(weights.abs().sum()) * float(_bound(case).max())
    for name, g in direct_grads.items():
        # ∂score/∂v scales like |score| / |v| (normalisation), so that sets the rounding scale
        v = values.get(name, params.get(name))
        assert v is not None
        floor = 1e-3 if name in values else 1.0
        magnitude = g.abs().max().double() + total / max(float(v.detach().abs().max()), floor)
        assert_close(fast_grads[name], g, magnitude, case.dtype, factor=50)


@given(gate_cases(), st.data())
def test_permuting_the_batch_permutes_the_outputs(case, data):
    b, c = case.context[0].shape[0], case.candidates.shape[0]
    rows = torch.tensor(data.draw(st.permutations(range(b))), dtype=torch.long)
    cols = torch.tensor(data.draw(st.permutations(range(c))), dtype=torch.long)
    base = case.gate.score(case.target, case.context, case.candidates, chunk_size=3)
    moved = case.gate.score(case.target, [e[rows] for e in case.context],
                            case.candidates[cols], chunk_size=3)
    assert_close(moved, base[rows][:, cols], _bound(case)[:, cols], case.dtype, factor=20)
    kw = case.gate.keep_weights(case.target, case.context, case.candidates)
    kw_moved = case.gate.keep_weights(case.target, [e[rows] for e in case.context],
                                      case.candidates[cols])
    assert_close(kw_moved.w, kw.w[rows][:, cols], 1.0, case.dtype, factor=20)


@given(gate_cases())
def test_flattened_tuples_equal_each_tuple_alone(case):
    b = case.context[0].shape[0]
    cand = randn(7, (b, case.gate.dim), case.dtype, float(case.candidates.abs().max()) + 1e-3)
    together = case.gate.score_tuples(case.target, case.context, cand)  # (B,)
    alone = torch.stack([
        case.gate.score_tuples(case.target, [e[i:i + 1] for e in case.context], cand[i:i + 1])[0]
        for i in range(b)])
    m, d = case.gate.num_modalities, case.gate.dim
    bound = cand.norm(dim=1).double() * d ** ((m - 1) / 2)
    assert_close(together, alone, bound, case.dtype, factor=20)
    full = case.gate.score(case.target, case.context, cand)  # (B, B): every query × candidate
    assert_close(together, torch.diagonal(full), bound, case.dtype, factor=20)


@given(gate_cases(), st.data())
def test_zero_norm_inputs_give_finite_scores_and_gradients(case, data):
    context = [e.clone() for e in case.context]
    cand = case.candidates.clone()
    for t in [*context, cand]:  # zero a drawn subset of rows, at least one of each tensor
        rows = data.draw(st.lists(st.integers(0, t.shape[0] - 1), min_size=1, max_size=3))
        t[rows] = 0.0
    for fast in (True, False):
        case.gate.zero_grad(set_to_none=True)
        leaves = [e.requires_grad_() for e in (e.detach().clone() for e in context)]
        cand_leaf = cand.detach().clone().requires_grad_()
        scores = case.gate.score(case.target, leaves, cand_leaf, fast=fast)
        scores.sum().backward()
        assert torch.isfinite(scores).all()
        grads = [t.grad for t in [*leaves, cand_leaf]]
        grads += [p.grad for p in case.gate.parameters() if p.grad is not None]
        assert all(torch.isfinite(g).all() for g in grads)


@given(gate_cases(exp_range=1), st.booleans())
def test_gate_runs_in_float32_under_bf16_autocast(case, bf16_inputs):
    gate = case.gate.float()
    context = [e.float() for e in case.context]
    cand = case.candidates.float()
    if bf16_inputs:  # what an autocast encoder hands over
        context, cand = [e.bfloat16() for e in context], cand.bfloat16()
    reference = gate.score(case.target, [e.float() for e in context], cand.float())
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        scores = gate.score(case.target, context, cand)
        kw = gate.keep_weights(case.target, context, cand)
    assert scores.dtype == torch.float32 and kw.w.dtype == torch.float32
    bound = cand.float().norm(dim=1)[None, :].double() * gate.dim ** (
        (gate.num_modalities - 1) / 2)
    # bf16 has 8 mantissa bits: running the gate in it would miss this float32 tolerance
    assert_close(scores, reference, bound, torch.float32, factor=20)
    assert RTOL[torch.float32] * 20 < 2.0**-8


def test_a_gated_embedding_that_vanishes_keeps_scores_and_gradients_finite():
    """u_m = e_m + β (n_m − e_m) is exactly 0 when e_m = −n_m and β = ½; both forms must
    then treat ‖u_m‖ as eps (normalize's floor), not divide by zero."""
    for dtype in (torch.float32, torch.float64):
        gate = ModalityGate(3, 4, mode="matrix", use_null=False, neutral="ones",
                            strength_init=0.0).to(dtype)  # α = ½, n_m = (½, ½, ½, ½)
        with torch.no_grad():
            gate.matrix_logits.fill_(-1e4)  # w = 0, so β = α = ½ exactly
        vanishing = torch.full((3, 4), -0.5, dtype=dtype)  # e_1 = −n_1 on every row
        other = randn(1, (3, 4), dtype)
        for fast in (True, False):
            leaves = [vanishing.clone().requires_grad_(), other.clone().requires_grad_()]
            cand = randn(2, (5, 4), dtype).requires_grad_()
            scores = gate.score(0, leaves, cand, fast=fast)
            scores.sum().backward()
            assert torch.isfinite(scores).all() and (scores == 0).all()  # g_1 = 0
            grads = [t.grad for t in (*leaves, cand)] + [p.grad for p in gate.parameters()]
            assert all(torch.isfinite(g).all() for g in grads if g is not None)
