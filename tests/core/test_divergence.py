"""A NaN logit scale is a diverged run, not a usage error: the losses pass NaN through so the
trainer raises DivergedError (a failed trial); a non-positive scale is still rejected."""

import math

import pytest
import torch

from robustlab.core import clip_loss, symile_loss


def _embeddings(seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(6, 4, generator=gen) for _ in range(3)]


@pytest.mark.parametrize("negatives", ["n", "n_squared"])
def test_nan_scale_gives_nan_symile_loss(negatives):
    loss = symile_loss(_embeddings(), torch.tensor(math.nan), negatives)
    assert torch.isnan(loss)


def test_nan_scale_gives_nan_clip_loss():
    assert torch.isnan(clip_loss(_embeddings(), torch.tensor(math.nan)))


@pytest.mark.parametrize("scale", [0.0, -1.0, -math.inf])
def test_non_positive_scale_is_rejected(scale):
    with pytest.raises(ValueError, match="logit_scale: must be > 0"):
        symile_loss(_embeddings(), scale)
