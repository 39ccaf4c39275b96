"""Pairwise CLIP: symmetric InfoNCE averaged over every modality pair (DESIGN §4).

`logit_scale` is the already-exponentiated scale (`exp(s)`); the method owns the learnable
log-scale and clamps it at log 100 like CLIP.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlab.core._checks import check_candidates, check_embeddings, check_logit_scale


def info_nce(x: Tensor, y: Tensor, logit_scale: Tensor | float) -> Tensor:
    """Symmetric InfoNCE of two (N, D) batches whose rows are aligned pairs -> scalar."""
    logits = logit_scale * (x @ y.T)  # (N, N); the positives are on the diagonal
    labels = torch.arange(x.shape[0], device=x.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def clip_loss(embeddings: Sequence[Tensor], logit_scale: Tensor | float) -> Tensor:
    """Mean of symmetric InfoNCE over all M(M-1)/2 modality pairs -> scalar.

    `embeddings`: M >= 2 tensors (N, D), row i of each belongs to example i.
    """
    check_embeddings("embeddings", embeddings, min_count=2)
    check_logit_scale(logit_scale)
    terms = [info_nce(embeddings[i], embeddings[j], logit_scale)
             for i, j in itertools.combinations(range(len(embeddings)), 2)]
    return torch.stack(terms).mean()


def clip_scores(context: Sequence[Tensor], candidates: Tensor) -> Tensor:
    """CLIP retrieval score `Σ_m ⟨x, ctx_m⟩` of every candidate for every query -> (B, C).

    Linear in the context, so it is one matmul of the summed context with the candidates.
    """
    check_embeddings("context", context, min_count=1)
    check_candidates(candidates, context[0].shape[1])
    summed = torch.stack(list(context)).sum(dim=0)  # (B, D)
    return summed @ candidates.T  # (B, C)
