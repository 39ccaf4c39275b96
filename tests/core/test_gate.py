"""Hypothesis properties of the Gated Symile gate's semantics (issue 2, DESIGN §4)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from core_strategies import GateCase, assert_close, gate_cases, randn, seeds
from hypothesis import given
from hypothesis import strategies as st

from robustlab.core import ModalityGate, mip, mip_scores

BIG = 1e4  # σ(±BIG) is exactly 1 / 0 in float32 and float64
ATOL_W = {torch.float32: 1e-4, torch.float64: 1e-10}  # keep weights live in [0, 1]


def _score_bound(case: GateCase) -> torch.Tensor:
    """|score| <= ‖c‖ · D^((M-1)/2) since every g_m has norm <= 1 (B, C) -> rounding scale."""
    m, d = case.gate.num_modalities, case.gate.dim
    return case.candidates.norm(dim=1)[None, :].double() * d ** ((m - 1) / 2) + 1e-30


def _both_forms(case: GateCase, **kw: object) -> list[torch.Tensor]:
    return [case.gate.score(case.target, case.context, case.candidates, fast=fast,
                            chunk_size=4, **kw)  # type: ignore[arg-type]
            for fast in (True, False)]


def _set(gate: ModalityGate, name: str, value: float) -> None:
    with torch.no_grad():
        getattr(gate, name).fill_(value)


@given(gate_cases())
def test_keep_weights_in_unit_interval_and_at_most_one_minus_p_null(case):
    kw = case.gate.keep_weights(case.target, case.context, case.candidates)
    atol = ATOL_W[case.dtype]
    assert ((kw.w >= 0) & (kw.w <= 1)).all() and ((kw.p_null >= 0) & (kw.p_null <= 1)).all()
    assert (kw.w <= (1 - kw.p_null)[..., None] + atol).all()
    if case.gate.gate_type == "softmax":  # the context weights and NULL share one simplex
        assert_close(kw.w.sum(-1) + kw.p_null, torch.ones_like(kw.p_null), 1.0, case.dtype, 4)
    if not case.gate.use_null:
        assert (kw.p_null == 0).all()


@given(gate_cases(), st.floats(0.01, 100.0))
def test_target_embedding_is_never_gated(case, lam):
    fast, direct = _both_forms(case)
    gated = case.gate.gated_context(case.target, case.context, case.candidates)
    m, d = case.gate.num_modalities, case.gate.dim
    product = torch.ones_like(gated[0])
    for g in gated:
        product = product * g  # (B, C, D)
    raw_dot = (product * case.candidates[None]).sum(-1) * d ** ((m - 1) / 2)  # raw candidate
    for form in (fast, direct):
        assert_close(form, raw_dot, _score_bound(case), case.dtype, factor=20)
    # the gate reads c only through directions, so the score is linear in the raw candidate
    scaled = case.gate.score(case.target, case.context, lam * case.candidates)
    assert_close(scaled, lam * fast, lam * _score_bound(case), case.dtype, factor=40)


def _plain_symile(case: GateCase) -> torch.Tensor:
    m, d = case.gate.num_modalities, case.gate.dim
    unit = [F.normalize(e, dim=-1, eps=case.gate.eps) for e in case.context]
    return mip_scores(unit, case.candidates) * d ** ((m - 1) / 2)


@given(gate_cases())
def test_zero_gate_strength_gives_plain_symile_scores(case):
    _set(case.gate, "strength", -BIG)  # α = σ(strength) = 0 exactly
    for form in _both_forms(case):
        assert_close(form, _plain_symile(case), _score_bound(case), case.dtype, factor=20)


@given(gate_cases(mode="matrix", gate_type="sigmoid", use_null=False))
def test_keep_weights_all_one_give_plain_symile_scores(case):
    _set(case.gate, "matrix_logits", BIG)  # w = σ(BIG) = 1 for every context modality
    kw = case.gate.keep_weights(case.target, case.context, case.candidates)
    assert (kw.w == 1).all()
    for form in _both_forms(case):
        assert_close(form, _plain_symile(case), _score_bound(case), case.dtype, factor=20)


@given(gate_cases(min_m=3, hard_missing=True), st.data())
def test_fully_suppressed_context_modality_becomes_its_neutral(case, data):
    gate, k = case.gate, len(case.context)
    j = data.draw(st.integers(0, k - 1))
    _set(gate, "strength", BIG)  # α = 1
    batch = case.context[0].shape[0]
    mask = [torch.ones(batch, dtype=torch.bool) for _ in range(k)]
    mask[j] = torch.zeros(batch, dtype=torch.bool)  # w_{t,j} = 0 for every query
    gated = gate.gated_context(case.target, case.context, case.candidates, context_mask=mask)
    neutral = gate.neutral_directions(case.candidates.dtype)
    ids = [i for i in range(gate.num_modalities) if i != case.target]
    expected = torch.zeros(gate.dim) if neutral is None else neutral[ids[j]]
    assert_close(gated[j], expected.expand_as(gated[j]), 1.0, case.dtype, factor=4)
    # the score no longer depends on e_j
    other = list(case.context)
    other[j] = randn(data.draw(seeds), tuple(case.context[j].shape), case.dtype, 7.0)
    for fast in (True, False):
        before = gate.score(case.target, case.context, case.candidates, context_mask=mask,
                            fast=fast)
        after = gate.score(case.target, other, case.candidates, context_mask=mask, fast=fast)
        assert_close(after, before, _score_bound(case), case.dtype, factor=20)


@given(gate_cases(min_m=3, max_m=3, mode="matrix", neutral="ones", gate_type="sigmoid",
                  use_null=False), st.data())
def test_ones_neutral_full_suppression_is_a_scaled_pairwise_dot_product(case, data):
    gate, j = case.gate, data.draw(st.integers(0, 1))
    ids = [i for i in range(3) if i != case.target]
    _set(gate, "strength", BIG)
    with torch.no_grad():
        gate.matrix_logits[case.target, ids[j]] = -BIG  # suppressed: w = 0
        gate.matrix_logits[case.target, ids[1 - j]] = BIG  # kept: w = 1
    kept = F.normalize(case.context[1 - j], dim=-1, eps=gate.eps)
    expected = math.sqrt(gate.dim) * (kept @ case.candidates.T)  # √D ⟨c, ê⟩
    for form in _both_forms(case):
        assert_close(form, expected, _score_bound(case), case.dtype, factor=20)


@given(gate_cases(neutral=st.sampled_from(["learned", "frozen", "ones"])))
def test_gated_embeddings_have_unit_norm(case):
    gated = case.gate.gated_context(case.target, case.context, case.candidates)
    for g in gated:
        assert_close(g.norm(dim=-1), torch.ones(g.shape[:-1]), 1.0, case.dtype, factor=4)


@given(gate_cases(exp_range=1), st.data())
def test_keep_weights_invariant_to_positive_rescaling(case, data):
    lams = data.draw(st.lists(st.floats(0.05, 20.0), min_size=len(case.context) + 1,
                              max_size=len(case.context) + 1))
    before = case.gate.keep_weights(case.target, case.context, case.candidates)
    context = [lam * e for lam, e in zip(lams, case.context, strict=False)]
    after = case.gate.keep_weights(case.target, context, lams[-1] * case.candidates)
    atol = ATOL_W[case.dtype]
    assert (after.w - before.w).abs().max() <= atol
    assert (after.p_null - before.p_null).abs().max() <= atol


@given(gate_cases(mode="matrix"))
def test_matrix_mode_keep_weights_do_not_depend_on_the_candidate(case):
    kw = case.gate.keep_weights(case.target, case.context, case.candidates)
    assert torch.equal(kw.w, kw.w[:, :1].expand_as(kw.w))


def test_neutral_none_skips_renormalisation():
    gate = ModalityGate(3, 4, neutral="none", mode="matrix", use_null=False, strength_init=BIG)
    _set(gate, "matrix_logits", -BIG)  # w = 0, α = 1: g = (1 - β) ê = 0
    ctx = [randn(i, (2, 4), torch.float32) for i in range(2)]
    scores = gate.score(0, ctx, randn(5, (3, 4), torch.float32)).detach()
    assert float(scores.abs().max()) == 0.0


def test_gate_parameters_exclude_frozen_neutrals():
    learned = {id(p) for p in ModalityGate(3, 8, neutral="learned").gate_parameters()}
    frozen = ModalityGate(3, 8, neutral="frozen")
    assert len(learned) == len(list(frozen.gate_parameters())) + 1
    assert all(p.requires_grad for p in frozen.gate_parameters())


def test_same_seed_same_gate():
    a, b = ModalityGate(3, 8, seed=3), ModalityGate(3, 8, seed=3)
    c = ModalityGate(3, 8, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.query, c.query)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"neutral": "zero"}, r"ModalityGate.neutral: must be one of \['learned'"),
    ({"gate_type": "relu"}, "ModalityGate.gate_type"),
    ({"mode": "global"}, "ModalityGate.mode"),
    ({"key_dim": 0}, "ModalityGate.key_dim: must be an int >= 1"),
    ({"temperature_init": 0.0}, "ModalityGate.temperature_init: must be > 0"),
    ({"use_null": "yes"}, "ModalityGate.use_null"),
])
def test_gate_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModalityGate(3, 8, **kwargs)


def test_gate_rejects_bad_inputs():
    gate = ModalityGate(3, 4, hard_missing=True)
    x = torch.zeros(2, 4)
    with pytest.raises(ValueError, match=r"target: must be an int in \[0, 3\)"):
        gate.score(3, [x, x], x)
    with pytest.raises(ValueError, match="context: expected 2 tensors"):
        gate.score(0, [x], x)
    with pytest.raises(ValueError, match="embedding width must be dim=4"):
        gate.score(0, [torch.zeros(2, 5)] * 2, x)
    with pytest.raises(ValueError, match=r"context_mask\[1\]: expected a bool tensor"):
        gate.score(0, [x, x], x, context_mask=[torch.ones(2, dtype=torch.bool), torch.ones(2)])
    with pytest.raises(ValueError, match="chunk_size"):
        gate.score(0, [x, x], x, chunk_size=0)
    assert torch.isfinite(mip(x, x)).all()


def _design_score(gate: ModalityGate, target: int, context: list[torch.Tensor],
                  cand: torch.Tensor) -> torch.Tensor:
    """DESIGN §4 written out loop by loop, independently of the gate's code: for query b,
    candidate c and context modality m,
        τ = softplus(log_temp) + 0.1,  q = normalize(Q_t c),  k_m = normalize(K_m e_m),
        null = (head(c) + null_bias_t) / τ,  w_m = σ(⟨q, k_m⟩ / τ) · (1 − σ(null)),
        g_m = normalize(e_m + σ(strength) (1 − w_m) (n_m − e_m)),
        score = ⟨c, ⊙_m g_m⟩ · D^((M−1)/2)."""
    tau = F.softplus(gate.log_temp) + 0.1
    alpha = torch.sigmoid(gate.strength)
    neutral = F.normalize(gate.neutral_raw, dim=1)
    ids = [m for m in range(gate.num_modalities) if m != target]
    out = torch.empty(context[0].shape[0], cand.shape[0], dtype=torch.float64)
    for j, c in enumerate(cand):
        q = F.normalize(gate.query[target] @ c, dim=0)
        h = F.layer_norm(F.normalize(c, dim=0), (gate.dim,), gate.null_norm_weight,
                         gate.null_norm_bias)
        head = gate.null_w2 @ torch.relu(gate.null_w1 @ h + gate.null_b1) + gate.null_b2
        p_null = torch.sigmoid((head[0] + gate.null_bias[target]) / tau)
        for b in range(context[0].shape[0]):
            product = torch.ones(gate.dim, dtype=torch.float64)
            for m, e in zip(ids, context, strict=True):
                k = F.normalize(gate.key[m] @ e[b], dim=0)
                w = torch.sigmoid(q @ k / tau) * (1 - p_null)
                product = product * F.normalize(e[b] + alpha * (1 - w) * (neutral[m] - e[b]),
                                                dim=0)
            out[b, j] = c @ product * gate.dim ** ((gate.num_modalities - 1) / 2)
    return out


@pytest.mark.parametrize("target", [0, 1, 2])
def test_score_matches_the_design_formula_written_out(target):
    gate = ModalityGate(3, 6, key_dim=4, seed=3).double()
    with torch.no_grad():  # move every parameter off its tidy initial value
        for p in gate.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7),
                                     dtype=p.dtype))
        gate.strength.fill_(0.5)  # α ≈ 0.62: the gate matters
    g = torch.Generator().manual_seed(target)
    context = [torch.randn(4, 6, generator=g, dtype=torch.float64) for _ in range(2)]
    cand = torch.randn(5, 6, generator=g, dtype=torch.float64)
    with torch.no_grad():
        got = gate.score(target, context, cand)
        torch.testing.assert_close(got, _design_score(gate, target, context, cand),
                                   rtol=1e-10, atol=1e-12)
