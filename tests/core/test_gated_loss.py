"""The Gated Symile training loss (issue 2, DESIGN §4)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from core_strategies import RTOL, assert_close, gates, randn, seeds
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from robustlab.core import ModalityGate, gated_symile_loss, gated_symile_target_losses


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
    """K sampled negatives, capped at the B − 1 other rows (the reference's cap): with every
    candidate identical the loss is log(min(K, B − 1) + 1)."""
    gate, embs = case
    b, d = embs[0].shape
    same = randn(seed, (1, d), embs[0].dtype).expand(b, d)
    embs = [same] * len(embs)
    assume(b >= 2)
    loss = gated_symile_loss(gate, embs, 3.0, num_negatives=k,
                             generator=torch.Generator().manual_seed(seed))
    assert abs(float(loss.detach()) - math.log(min(k, b - 1) + 1)) <= 1e-4


@pytest.mark.parametrize(("b", "k", "width"), [(5, 3, 4), (5, 4, 5), (5, 9, 5), (2, 6, 2)])
def test_sampled_negatives_are_capped_at_the_other_rows(b, k, width):
    """As the reference (`K = max(1, min(K, N - 1))`): K >= B draws B − 1 negatives per
    query, never the positive, and a larger K than that changes nothing (same draws)."""
    from robustlab.core.gated_loss import _sampled_columns

    columns = _sampled_columns(b, k, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert columns.shape == (b, width)  # (B, min(K, B - 1) + 1)
    assert torch.equal(columns[:, 0], torch.arange(b))
    assert not bool((columns[:, 1:] == torch.arange(b)[:, None]).any())  # never the positive
    gate = ModalityGate(3, 8, strength_init=0.0)
    embs = [randn(i, (b, 8), torch.float32) for i in range(3)]
    at_cap, beyond = (gated_symile_loss(gate, embs, 2.0, num_negatives=n,
                                        generator=torch.Generator().manual_seed(1))
                      for n in (min(k, b - 1), k))
    assert torch.equal(at_cap, beyond)


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


# ------------------------------------------------ the batched fast form vs the direct form


def _direct_target_losses(gate, embs, scale, masks=None, columns=None):
    """Per target, one pair at a time through `score_tuples` (the direct form, which
    materialises every gated embedding): the reference of the batched fast loss."""
    b = embs[0].shape[0]
    out = []
    for t in range(len(embs)):
        context = [e for m, e in enumerate(embs) if m != t]
        ctx_mask = None if masks is None else [k for m, k in enumerate(masks) if m != t]
        idx = torch.arange(b).expand(b, b) if columns is None else columns[t]
        logits = scale * gate.score_tuples(t, context, embs[t][idx], context_mask=ctx_mask)
        labels = torch.arange(b) if columns is None else torch.zeros(b, dtype=torch.long)
        out.append(F.cross_entropy(logits, labels))
    return out


def assert_same_losses_and_gradients(gate, embs, got, want):
    """Per-target losses equal at 1e-9 in float64, and so the gradients they give every
    embedding and gate parameter (1e-8)."""
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9)
    got_grads, want_grads = _grads(gate, embs, got), _grads(gate, embs, want)
    assert got_grads.keys() == want_grads.keys()
    for name, w in want_grads.items():
        torch.testing.assert_close(got_grads[name], w, rtol=1e-8, atol=1e-8, msg=name)


def _grads(gate, embs, losses):
    gate.zero_grad(set_to_none=True)
    for e in embs:
        e.grad = None
    torch.stack(losses).mean().backward()
    grads = {f"embeddings[{i}]": e.grad for i, e in enumerate(embs)}
    return grads | {n: p.grad for n, p in gate.named_parameters() if p.grad is not None}


def _masks(data, m, b):
    return [torch.tensor(data.draw(st.lists(st.booleans(), min_size=b, max_size=b)))
            for _ in range(m)]


@settings(max_examples=40)
@given(loss_cases(hard_missing=st.booleans()), st.floats(0.1, 20.0), st.booleans(), st.data())
def test_batched_loss_equals_the_direct_form_values_and_gradients(case, scale, sampled, data):
    """The loss scores all targets at once with the fast form; the same loss, target by
    target and pair by pair through the direct form, gives the same value and gradients
    (whole batch, and sampled negatives with the same drawn columns)."""
    gate, embs = case
    gate = gate.double()
    embs = [e.double().requires_grad_() for e in embs]
    m, b = len(embs), embs[0].shape[0]
    assume(not sampled or b >= 2)
    masks = _masks(data, m, b) if gate.hard_missing else None
    k = data.draw(st.integers(1, 4))
    columns = None
    if sampled:
        seed = data.draw(seeds)
        draws = torch.Generator().manual_seed(seed)  # one stream, one draw per target
        columns = torch.stack([_sampled_columns(b, k, draws) for _ in range(m)])
    got = gated_symile_target_losses(
        gate, embs, scale, masks=masks, num_negatives=k if sampled else None,
        generator=torch.Generator().manual_seed(seed) if sampled else None)
    want = _direct_target_losses(gate, embs, scale, masks, columns)
    assert_same_losses_and_gradients(gate, embs, got, want)


def _sampled_columns(b, k, generator):
    """The loss's draw of (B, K+1) candidate rows, written out (positive first; K capped at
    B − 1)."""
    neg = torch.randint(0, b - 1, (b, min(k, b - 1)), generator=generator)
    neg = neg + (neg >= torch.arange(b)[:, None]).long()
    return torch.cat([torch.arange(b)[:, None], neg], dim=1)


@given(loss_cases(hard_missing=st.booleans()), st.data())
def test_score_all_equals_each_target_scored_alone(case, data):
    gate, embs = case
    m, b = len(embs), embs[0].shape[0]
    masks = _masks(data, m, b) if gate.hard_missing else None
    together = gate.score_all(embs, masks=masks)  # (M, B, B)
    for t in range(m):
        context = [e for i, e in enumerate(embs) if i != t]
        ctx_mask = None if masks is None else [k for i, k in enumerate(masks) if i != t]
        alone = gate.score(t, context, embs[t], context_mask=ctx_mask, chunk_size=2)
        bound = embs[t].norm(dim=1)[None, :].double() * gate.dim ** ((m - 1) / 2) + 1e-30
        assert_close(together[t], alone, bound, embs[0].dtype, factor=20)


def test_no_per_target_loop_and_no_bcd_tensor_in_the_whole_batch_loss():
    """What the loss runs: per step a fixed number of ops whatever M, and no tensor with
    the (B, C, D) shape of a per-pair gated embedding."""
    from torch.profiler import ProfilerActivity, profile

    def ops(m):
        gate = ModalityGate(m, 16, key_dim=4)
        embs = [randn(i, (10, 16), torch.float32) for i in range(m)]
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            gated_symile_loss(gate, embs, 5.0)
        shapes = [s for e in prof.events() for s in e.input_shapes if isinstance(s, list)]
        assert not [s for s in shapes if s[-3:] == [10, 10, 16]]  # (…, B, C, D)
        return sum(1 for e in prof.events() if e.name.startswith("aten::mm")
                   or e.name.startswith("aten::bmm"))

    assert ops(3) == ops(4)  # one batched matmul per stage, not one per target
