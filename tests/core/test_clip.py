"""Hypothesis properties of the pairwise CLIP loss and score (issue 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from core_strategies import RTOL, assert_close, embedding_sets, randn, seeds
from hypothesis import given
from hypothesis import strategies as st

from robustlab.core import clip_loss, clip_scores

scales = st.floats(0.01, 100.0)


def _logit_magnitude(embs: list[torch.Tensor], scale: float) -> float:
    norms = [float(e.norm(dim=1).max()) for e in embs]
    return scale * max(a * b for a in norms for b in norms) + 1.0


def _info_nce_numpy(x: np.ndarray, y: np.ndarray, scale: float) -> float:
    """Two-modality symmetric InfoNCE written out independently with log-softmax."""
    logits = scale * x @ y.T

    def row_ce(z: np.ndarray) -> float:
        top = z.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
        return float(np.mean(lse - np.diag(z)))

    return 0.5 * (row_ce(logits) + row_ce(logits.T))


@given(embedding_sets(min_b=1, max_m=4), scales, st.data())
def test_clip_loss_symmetric_in_modality_order(embs, scale, data):
    order = data.draw(st.permutations(range(len(embs))))
    diff = clip_loss([embs[i] for i in order], scale) - clip_loss(embs, scale)
    assert abs(float(diff)) <= 8 * RTOL[embs[0].dtype] * _logit_magnitude(embs, scale)


@given(embedding_sets(min_m=2, max_m=2, min_b=1), scales)
def test_clip_loss_of_two_modalities_is_info_nce(embs, scale):
    x, y = embs
    expected = _info_nce_numpy(x.double().numpy(), y.double().numpy(), scale)
    got = float(clip_loss([x, y], scale))
    assert abs(got - expected) <= 8 * RTOL[x.dtype] * _logit_magnitude(embs, scale)


@given(embedding_sets(min_m=3, max_m=3, min_b=1), scales)
def test_clip_loss_of_three_is_the_mean_of_its_pairs(embs, scale):
    a, b, c = (e.double().numpy() for e in embs)
    expected = np.mean([_info_nce_numpy(a, b, scale), _info_nce_numpy(a, c, scale),
                        _info_nce_numpy(b, c, scale)])
    got = float(clip_loss(embs, scale))
    assert abs(got - expected) <= 8 * RTOL[embs[0].dtype] * _logit_magnitude(embs, scale)


@given(embedding_sets(min_m=3, max_m=3), st.integers(1, 6), seeds)
def test_clip_scores_is_the_sum_of_dot_products(embs, num_cand, seed):
    context = embs[1:]
    cand = randn(seed, (num_cand, embs[0].shape[1]), embs[0].dtype)
    expected = sum((ctx.double() @ cand.double().T) for ctx in context)
    magnitude = sum(ctx.abs().double() @ cand.abs().double().T for ctx in context)
    assert_close(clip_scores(context, cand), expected, magnitude, cand.dtype, factor=2)


def test_clip_rejects_bad_input():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="at least 2"):
        clip_loss([x], 1.0)
    with pytest.raises(ValueError, match="logit_scale: expected a scalar"):
        clip_loss([x, x], torch.ones(2))
