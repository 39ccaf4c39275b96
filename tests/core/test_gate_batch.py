"""The gate's whole-batch Functions (`gate_batch.py`, issue 24): analytic backward passes
against autograd's (gradcheck), and `score_all` at the default study's own shapes (batch 64,
D = 64, key_dim 256) against the per-target autograd form, values and gradients in float64.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from core_strategies import randn, randomize_gate
from hypothesis import given, settings
from hypothesis import strategies as st
from test_gated_loss import (
    _direct_target_losses,
    _masks,
    assert_same_losses_and_gradients,
    loss_cases,
)

from robustlab.core import ModalityGate, gated_symile_loss, gated_symile_target_losses
from robustlab.core.gate_batch import attention_beta, gated_product

F64 = torch.float64


def _ids(m: int) -> torch.Tensor:
    return torch.tensor([[j for j in range(m) if j != t] for t in range(m)])


@pytest.mark.parametrize("m", [2, 3, 4])
def test_gated_product_backward_passes_gradcheck(m):
    b, d = 4, 3
    emb = randn(0, (m, b, d), F64).requires_grad_()
    neutrals = F.normalize(randn(1, (m, d), F64), dim=-1).requires_grad_()
    beta = (torch.rand(m, m - 1, b, b, dtype=F64, generator=torch.Generator().manual_seed(2))
            .requires_grad_())
    assert torch.autograd.gradcheck(
        lambda e, n, bt: gated_product(e, n, bt, _ids(m), 1e-6), (emb, neutrals, beta))


@pytest.mark.parametrize("null", [True, False])
@pytest.mark.parametrize("keep", [True, False])
def test_attention_beta_backward_passes_gradcheck(null, keep):
    m, b, d, kd = 3, 4, 5, 6
    gen = torch.Generator().manual_seed(3)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(shape, dtype=F64, generator=gen).requires_grad_()

    inputs = [r(m, b, d), r(m, kd, d), r(m, kd, d), r(), r()]
    null_params = [r(m), r(d), r(d), r(kd, d), r(kd), r(1, kd), r(1)] if null else []
    mask = (torch.rand(m, m - 1, b, generator=gen) < 0.7).to(F64) if keep else None

    def beta(*args: torch.Tensor) -> torch.Tensor:
        return attention_beta(*args[:5], _ids(m), mask, 1e-6, tuple(args[5:]))

    assert torch.autograd.gradcheck(beta, (*inputs, *null_params))


@settings(max_examples=40)
@given(loss_cases(mode="attention", gate_type="sigmoid", hard_missing=st.booleans(),
                  neutral=st.sampled_from(["learned", "frozen", "ones"])),
       st.floats(0.1, 20.0), st.data())
def test_whole_batch_functions_equal_the_direct_form(case, scale, data):
    """Every gate the Functions serve (sigmoid attention, a neutral direction; with and
    without NULL and hard_missing), M = 2..4, drawn shapes and scales: the loss and every
    gradient equal the direct form's, pair by pair, in float64."""
    gate, embs = case
    gate = gate.double()
    embs = [e.double().requires_grad_() for e in embs]
    masks = _masks(data, len(embs), embs[0].shape[0]) if gate.hard_missing else None
    got = gated_symile_target_losses(gate, embs, scale, masks=masks)
    want = _direct_target_losses(gate, embs, scale, masks)
    assert_same_losses_and_gradients(gate, embs, got, want)


def _reference_losses(gate: ModalityGate, embs: list[torch.Tensor], scale: float,
                      masks: list[torch.Tensor] | None) -> torch.Tensor:
    """Target by target through `score` (keep weights and the 2^K terms as autograd ops):
    the form the whole-batch Functions replaced in training."""
    b = embs[0].shape[0]
    out = []
    for t in range(len(embs)):
        context = [e for i, e in enumerate(embs) if i != t]
        ctx_mask = None if masks is None else [k for i, k in enumerate(masks) if i != t]
        scores = gate.score(t, context, embs[t], context_mask=ctx_mask)  # (B, B)
        out.append(F.cross_entropy(scale * scores, torch.arange(b)))
    return torch.stack(out).mean()


@pytest.mark.parametrize(("neutral", "use_null", "hard_missing"),
                         [("learned", True, False), ("learned", True, True),
                          ("learned", False, False), ("ones", True, True)])
def test_whole_batch_loss_at_the_default_studys_shapes(neutral, use_null, hard_missing):
    """Batch 64, D = 64, key_dim 256 (the default study's gate), some rows missing and one
    row of zeros: the Functions' loss and every gradient equal the autograd form's to 1e-6
    in float64."""
    m, b, d = 3, 64, 64
    gate = randomize_gate(ModalityGate(m, d, key_dim=256, neutral=neutral, use_null=use_null,
                                       hard_missing=hard_missing, strength_init=0.5,
                                       seed=4), 5).double()
    embs = [F.normalize(randn(10 + i, (b, d), F64), dim=-1) for i in range(m)]
    embs[1][3] = 0.0  # a vanishing embedding: every norm floor is taken
    embs = [e.requires_grad_() for e in embs]
    gen = torch.Generator().manual_seed(6)
    masks = [torch.rand(b, generator=gen) < 0.8 for _ in range(m)] if hard_missing else None
    params = [p for p in gate.parameters() if p.requires_grad]
    got = gated_symile_loss(gate, embs, 14.0, masks=masks)
    want = _reference_losses(gate, embs, 14.0, masks)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    names = [f"embeddings[{i}]" for i in range(m)] + [n for n, p in gate.named_parameters()
                                                       if p.requires_grad]
    for name, g, w in zip(names, torch.autograd.grad(got, [*embs, *params]),
                          torch.autograd.grad(want, [*embs, *params]), strict=True):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6, msg=name)


def test_subnormal_upstream_gradients_are_flushed_without_changing_the_result():
    """The product's backward zeroes subnormal incoming gradients (a float32 matmul slows
    down on them); every gradient stays what the unflushed one gives to float32 rounding."""
    m, b, d = 3, 8, 4
    emb = F.normalize(randn(0, (m, b, d), torch.float32), dim=-1).requires_grad_()
    neutrals = F.normalize(randn(1, (m, d), torch.float32), dim=-1)
    beta = torch.rand(m, m - 1, b, b, generator=torch.Generator().manual_seed(2))
    weights = randn(3, (m, b, b), torch.float32)
    weights[0, :4] = 1e-41  # subnormal in float32
    out = gated_product(emb, neutrals, beta, _ids(m), 1e-6)
    grad, = torch.autograd.grad(out, emb, weights)
    flushed = weights.masked_fill(weights.abs() < torch.finfo(torch.float32).tiny, 0.0)
    want, = torch.autograd.grad(gated_product(emb, neutrals, beta, _ids(m), 1e-6), emb, flushed)
    assert torch.equal(grad, want)
    exact, = torch.autograd.grad(gated_product(emb.double(), neutrals.double(), beta.double(),
                                               _ids(m), 1e-6), emb, weights.double())
    torch.testing.assert_close(grad, exact.float(), rtol=1e-5, atol=1e-6)
