"""Hypothesis properties of the Symile loss (issue 2)."""

from __future__ import annotations

import math

import pytest
import torch
from core_strategies import RTOL, assert_close, embedding_sets, randn, seeds
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.core import mip, mip_scores, symile_loss

negatives = st.sampled_from(["n", "n_squared"])
scales = st.floats(0.01, 100.0)


def _logit_magnitude(embs: list[torch.Tensor], scale: float) -> float:
    """Bound on |logit|: scale · Σ_k Π_m max_b |x_m,b,k|; rounding errors scale with it."""
    peak = torch.stack([e.abs().amax(dim=0) for e in embs]).prod(dim=0).sum()
    return float(scale * peak) + 1.0


@given(embedding_sets(min_b=2, max_m=3), scales, negatives, seeds)
def test_loss_is_finite_and_nonnegative(embs, scale, neg, seed):
    loss = symile_loss(embs, scale, neg, generator=torch.Generator().manual_seed(seed))
    assert torch.isfinite(loss)
    # the positive's logit is also in the log-sum-exp, so the loss is >= 0 up to rounding
    assert loss >= -4 * RTOL[embs[0].dtype] * _logit_magnitude(embs, scale)


@given(st.integers(2, 4), st.integers(1, 7), st.integers(1, 8), scales, seeds,
       st.sampled_from([torch.float32, torch.float64]), st.integers(-2, 2))
def test_identical_embeddings_give_log_of_the_number_of_candidates(m, n, d, scale, seed, dtype,
                                                                   exp):
    row = randn(seed, (1, d), dtype, 10.0**exp)
    embs = [row.expand(n, d)] * m  # every row of every modality is the same vector
    tol = 8 * RTOL[dtype] * (1 + _logit_magnitude(embs, scale))
    assert abs(float(symile_loss(embs, scale, "n")) - math.log(n)) <= tol
    loss_sq = float(symile_loss(embs, scale, "n_squared", chunk_size=3))
    assert abs(loss_sq - (m - 1) * math.log(n)) <= tol  # log N² for three modalities


@given(embedding_sets(min_b=1, max_b=5, max_m=3), scales, st.data())
def test_n_squared_invariant_to_jointly_permuting_the_batch(embs, scale, data):
    perm = torch.tensor(data.draw(st.permutations(range(embs[0].shape[0]))), dtype=torch.long)
    permuted = [e[perm] for e in embs]
    tol = 8 * RTOL[embs[0].dtype] * _logit_magnitude(embs, scale)
    diff = symile_loss(permuted, scale, "n_squared") - symile_loss(embs, scale, "n_squared")
    assert abs(float(diff)) <= tol


@given(embedding_sets(min_b=1, max_b=5, max_m=4), scales, st.data())
def test_n_squared_invariant_to_reordering_the_modalities(embs, scale, data):
    order = data.draw(st.permutations(range(len(embs))))
    tol = 8 * RTOL[embs[0].dtype] * _logit_magnitude(embs, scale)
    diff = (symile_loss([embs[i] for i in order], scale, "n_squared")
            - symile_loss(embs, scale, "n_squared"))
    assert abs(float(diff)) <= tol


def _naive_n_squared(embs: list[torch.Tensor], scale: float) -> torch.Tensor:
    """Plain-autograd reference: materialise every tuple's logit, one cross-entropy/anchor."""
    n, d = embs[0].shape
    terms = []
    for a, anchor in enumerate(embs):
        others = [e for m, e in enumerate(embs) if m != a]
        grids = torch.meshgrid(*[torch.arange(n)] * len(others), indexing="ij")
        product = torch.ones(grids[0].numel(), d, dtype=anchor.dtype)
        for emb, idx in zip(others, grids, strict=True):
            product = product * emb[idx.reshape(-1)]  # (N^(M-1), D), row-major tuples
        logits = scale * anchor @ product.T  # (N, N^(M-1))
        labels = sum(torch.arange(n) * n**p for p in range(len(others)))  # tuple (i, …, i)
        terms.append(torch.nn.functional.cross_entropy(logits, labels))
    return torch.stack(terms).mean()


@settings(max_examples=25)
@given(embedding_sets(min_b=1, max_b=5, max_m=4, exp_range=1), scales, st.integers(1, 30))
def test_chunked_equals_unchunked_values_and_gradients(embs, scale, chunk):
    n, m = embs[0].shape[0], len(embs)
    runs = {"chunked": lambda e: symile_loss(e, scale, "n_squared", chunk_size=chunk),
            "one block": lambda e: symile_loss(e, scale, "n_squared", chunk_size=n ** (m - 2)),
            "materialised": lambda e: _naive_n_squared(e, scale)}
    values, grads = {}, {}
    for name, fn in runs.items():
        leaves = [e.clone().requires_grad_() for e in embs]
        loss = fn(leaves)
        loss.backward()
        values[name], grads[name] = loss.detach(), [x.grad for x in leaves]
    tol_mag = _logit_magnitude(embs, scale)
    for name in ("chunked", "one block"):
        assert_close(values[name], values["materialised"], tol_mag, embs[0].dtype, factor=8)
        for got, ref, e in zip(grads[name], grads["materialised"], embs, strict=True):
            # d loss / d x is a mix of the other modalities' products, times the scale
            grad_mag = tol_mag / max(float(e.abs().max()), 1e-30)
            assert_close(got, ref, grad_mag, e.dtype, factor=16)


@given(embedding_sets(min_m=3, max_m=3, min_b=1), st.integers(1, 6), scales, seeds)
def test_retrieval_argmax_invariant_to_positive_logit_scale(embs, num_cand, scale, seed):
    cand = randn(seed, (num_cand, embs[0].shape[1]), embs[0].dtype)
    raw = mip_scores(embs[1:], cand)  # (B, C)
    picked = (scale * raw).argmax(dim=1)  # retrieval under the training logit scale
    assert torch.equal(picked, raw.argmax(dim=1)) or _only_rounding_ties(raw, picked)


def _only_rounding_ties(raw: torch.Tensor, picked: torch.Tensor) -> bool:
    """A different pick is allowed only between scores equal up to rounding."""
    best = raw.max(dim=1).values
    chosen = raw.gather(1, picked[:, None])[:, 0]
    return bool((chosen >= best - 4 * RTOL[raw.dtype] * raw.abs().amax(dim=1)).all())


@given(embedding_sets(min_b=2, max_m=3), seeds)
def test_n_scheme_is_reproducible_for_a_seeded_generator(embs, seed):
    one = symile_loss(embs, 3.0, "n", generator=torch.Generator().manual_seed(seed))
    two = symile_loss(embs, 3.0, "n", generator=torch.Generator().manual_seed(seed))
    assert torch.equal(one, two)


def test_n_scheme_uses_its_generator():
    embs = [randn(i, (16, 4), torch.float64) for i in range(3)]
    losses = {float(symile_loss(embs, 5.0, "n", generator=torch.Generator().manual_seed(s)))
              for s in range(5)}
    assert len(losses) == 5  # different permutations, different negatives, different losses


def test_n_scheme_positive_is_the_true_tuple():
    embs = [randn(i, (6, 5), torch.float64) for i in range(3)]
    # with N = 1 the only logit is the positive: CE = 0 exactly
    assert float(symile_loss([e[:1] for e in embs], 2.0, "n")) == 0.0
    # the O(N) loss never beats the exact log-partition over its own N logits
    loss = symile_loss(embs, 2.0, "n", generator=torch.Generator().manual_seed(0))
    assert float(loss) >= 0.0 and math.isfinite(float(loss))


def test_n_squared_matches_an_explicit_cross_entropy():
    n, d = 5, 4
    x, y, z = (randn(i, (n, d), torch.float64) for i in range(3))
    scale = 1.7
    total = 0.0
    for anchor, a, b in ((x, y, z), (y, x, z), (z, x, y)):
        pairs = (a[:, None, :] * b[None, :, :]).reshape(n * n, d)  # row j·N + k = a_j ⊙ b_k
        logits = scale * anchor @ pairs.T  # (N, N²)
        labels = torch.arange(n) * n + torch.arange(n)  # the positive (i, i)
        total += float(torch.nn.functional.cross_entropy(logits, labels))
    got = float(symile_loss([x, y, z], scale, "n_squared", chunk_size=2))
    assert got == pytest.approx(total / 3, rel=1e-12)
    assert torch.allclose(mip(x, y, z), (x * y * z).sum(1))


def test_symile_rejects_bad_input():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="negatives: must be 'n' or 'n_squared'"):
        symile_loss([x, x, x], 1.0, "n3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="logit_scale: must be > 0"):
        symile_loss([x, x, x], 0.0)
    with pytest.raises(ValueError, match="chunk_size: must be >= 1"):
        symile_loss([x, x, x], 1.0, "n_squared", chunk_size=0)
