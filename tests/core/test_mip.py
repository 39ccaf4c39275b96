"""Hypothesis properties of the multilinear inner product (issue 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from core_strategies import assert_close, embedding_sets, randn, seeds
from hypothesis import given
from hypothesis import strategies as st

from robustlab.core import mip, mip_scores


def _abs_mip(embeddings: list[torch.Tensor]) -> torch.Tensor:
    """Σ_k Π_m |x_m,k|: the magnitude that bounds a MIP's rounding error."""
    return mip(*[e.abs() for e in embeddings])


@given(embedding_sets(), st.data())
def test_mip_symmetric_under_any_permutation(embs, data):
    order = data.draw(st.permutations(range(len(embs))))
    assert_close(mip(*[embs[i] for i in order]), mip(*embs), _abs_mip(embs), embs[0].dtype)


@given(embedding_sets(), st.data())
def test_mip_linear_in_each_argument(embs, data):
    pos = data.draw(st.integers(0, len(embs) - 1))
    a, b = data.draw(st.floats(-10, 10)), data.draw(st.floats(-10, 10))
    other = randn(data.draw(seeds), tuple(embs[0].shape), embs[0].dtype, embs[pos].abs().max())
    mixed = list(embs)
    mixed[pos] = a * embs[pos] + b * other
    swapped = list(embs)
    swapped[pos] = other
    expected = a * mip(*embs) + b * mip(*swapped)
    magnitude = abs(a) * _abs_mip(embs) + abs(b) * _abs_mip(swapped)
    assert_close(mip(*mixed), expected, magnitude, embs[0].dtype, factor=4)


@given(embedding_sets(min_m=2, max_m=2))
def test_mip_with_ones_is_the_dot_product(embs):
    x, y = embs
    expected = torch.from_numpy(np.einsum("bd,bd->b", x.double().numpy(), y.double().numpy()))
    assert_close(mip(x, y, torch.ones_like(x)), expected, _abs_mip([x, y]), x.dtype)


@given(embedding_sets(min_m=2, max_m=2))
def test_mip_of_two_is_the_dot_product(embs):
    x, y = embs
    expected = torch.from_numpy(np.einsum("bd,bd->b", x.double().numpy(), y.double().numpy()))
    assert_close(mip(x, y), expected, _abs_mip([x, y]), x.dtype)


@given(embedding_sets(min_m=3, max_m=3))
def test_mip_bounded_by_two_norms_and_a_sup_norm(embs):
    x, y, z = embs
    bound = x.norm(dim=1) * y.norm(dim=1) * z.abs().amax(dim=1)
    slack = 1 + 1e-5 if x.dtype == torch.float32 else 1 + 1e-12
    assert (mip(x, y, z).abs() <= bound * slack).all()


@given(embedding_sets(), st.integers(1, 6), seeds)
def test_mip_scores_is_mip_of_every_pair(embs, num_cand, seed):
    context = embs[1:]
    cand = randn(seed, (num_cand, embs[0].shape[1]), embs[0].dtype, embs[0].abs().max())
    scores = mip_scores(context, cand)
    for c in range(num_cand):
        tiled = cand[c].expand_as(context[0])
        column = [tiled, *context]
        assert_close(scores[:, c], mip(*column), _abs_mip(column), cand.dtype, factor=2)


def test_mip_rejects_bad_input():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="at least 2"):
        mip(x)
    with pytest.raises(ValueError, match=r"embeddings\[1\]: shape \(3, 5\) differs"):
        mip(x, torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"candidates: expected shape \(C, 4\)"):
        mip_scores([x, x], torch.zeros(2, 3))
