"""The Gated Symile training loss (issue 2, DESIGN §4)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from core_strategies import RTOL, gates, randn, seeds
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from robustlab.core import ModalityGate, gated_symile_loss


@st.composite
def loss_cases(draw: st.DrawFn, **fixed: object):
    m, b, d = draw(st.integers(2, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 8))
    dtype, seed = draw(st.sampled_from([torch.float32, torch.float64])), draw(seeds)
    gate = draw(gates(m, d, dtype, **fixed))
    embs = [randn(seed + i, (b, d), dtype, 10.0 ** draw(st.integers(-1, 1))) for i in range(m)]
    return gate, embs


@settings(max_examples=30)
@given(loss_cases(), st.floats(0.1, 20.0))
def test_whole_batch_loss_is_the_per_pair_cross_entropy(case, scale):
    gate, embs = case
    b = embs[0].shape[0]
    terms = []
    for t in range(len(embs)):  # independent route: the direct form, one pair at a time
        context = [e for m, e in enumerate(embs) if m != t]
        pairs = embs[t][None].expand(b, -1, -1)  # (B, B, D): every candidate for every query
        logits = scale * gate.score_tuples(t, context, pairs)  # (B, B)
        terms.append(F.cross_entropy(logits, torch.arange(b)))
    expected = torch.stack(terms).mean().detach()
    got = gated_symile_loss(gate, embs, scale).detach()
    magnitude = scale * max(float(e.norm(dim=1).max()) for e in embs) * gate.dim ** (
        (gate.num_modalities - 1) / 2) + 1
    assert abs(float(got - expected)) <= 40 * RTOL[embs[0].dtype] * magnitude


@settings(max_examples=30)
@given(loss_cases(), st.integers(1, 6), seeds)
def test_identical_candidates_give_log_of_k_plus_one(case, k, seed):
    gate, embs = case
    b, d = embs[0].shape
    same = randn(seed, (1, d), embs[0].dtype).expand(b, d)
    embs = [same] * len(embs)
    assume(b >= 2)
    loss = gated_symile_loss(gate, embs, 3.0, num_negatives=k,
                             generator=torch.Generator().manual_seed(seed))
    assert abs(float(loss.detach()) - math.log(k + 1)) <= 1e-4


@given(loss_cases(), st.integers(1, 6), seeds)
def test_sampled_negatives_reproducible_and_finite(case, k, seed):
    gate, embs = case
    assume(embs[0].shape[0] >= 2)
    one = gated_symile_loss(gate, embs, 2.0, num_negatives=k,
                            generator=torch.Generator().manual_seed(seed))
    two = gated_symile_loss(gate, embs, 2.0, num_negatives=k,
                            generator=torch.Generator().manual_seed(seed))
    assert torch.equal(one, two) and torch.isfinite(one) and float(one.detach()) >= -1e-6


def test_hard_missing_masks_change_the_loss_and_all_present_masks_do_not():
    gate = ModalityGate(3, 8, hard_missing=True, strength_init=2.0)
    embs = [randn(i, (6, 8), torch.float32) for i in range(3)]
    present = [torch.ones(6, dtype=torch.bool) for _ in range(3)]
    missing = [m.clone() for m in present]
    missing[1][:3] = False
    plain = gated_symile_loss(gate, embs, 5.0)
    assert torch.equal(gated_symile_loss(gate, embs, 5.0, masks=present), plain)
    assert not torch.allclose(gated_symile_loss(gate, embs, 5.0, masks=missing), plain)
    soft = ModalityGate(3, 8, hard_missing=False, strength_init=2.0)  # masks are ignored
    assert torch.equal(gated_symile_loss(soft, embs, 5.0, masks=missing),
                       gated_symile_loss(soft, embs, 5.0))


def test_loss_trains_every_gate_parameter():
    gate = ModalityGate(3, 8, strength_init=0.0)
    embs = [randn(i, (6, 8), torch.float32).requires_grad_() for i in range(3)]
    gated_symile_loss(gate, embs, 5.0, num_negatives=3,
                      generator=torch.Generator().manual_seed(0)).backward()
    for name, p in gate.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert all(e.grad is not None and e.grad.abs().sum() > 0 for e in embs)


def test_gated_loss_rejects_bad_input():
    gate = ModalityGate(3, 4)
    embs = [torch.zeros(3, 4)] * 3
    with pytest.raises(ValueError, match="generator: required"):
        gated_symile_loss(gate, embs, 1.0, num_negatives=2)
    with pytest.raises(ValueError, match="num_negatives: must be an int >= 1"):
        gated_symile_loss(gate, embs, 1.0, num_negatives=0, generator=torch.Generator())
    with pytest.raises(ValueError, match="the gate has 3 modalities"):
        gated_symile_loss(gate, embs[:2], 1.0)
