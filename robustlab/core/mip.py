"""The multilinear inner product (MIP) and the one-matmul candidate scorer (DESIGN §4).

`MIP(x, y, z) = Σ_k x_k y_k z_k`: symmetric in its arguments, linear in each, and
`MIP(x, y, 1) = ⟨x, y⟩`. Scoring a context tuple against C candidates is a single matmul,
`(y ⊙ z) @ Xᵀ`, because the MIP is linear in the candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from robustlab.core._checks import check_candidates, check_embeddings


def elementwise_product(embeddings: Sequence[Tensor]) -> Tensor:
    """⊙ of one or more (B, D) tensors -> (B, D)."""
    out = embeddings[0]
    for emb in embeddings[1:]:
        out = out * emb
    return out


def mip(*embeddings: Tensor) -> Tensor:
    """Multilinear inner product of M >= 2 tensors of shape (B, D) -> (B,)."""
    check_embeddings("embeddings", embeddings, min_count=2)
    return elementwise_product(embeddings).sum(dim=-1)


def mip_scores(context: Sequence[Tensor], candidates: Tensor) -> Tensor:
    """Scores of every candidate for every context tuple: `(⊙ context) @ candidatesᵀ`.

    `context`: M - 1 tensors (B, D) (the non-target modalities of B queries);
    `candidates`: (C, D). Returns (B, C) with `out[b, c] = MIP(candidates[c], *context[:][b])`.
    """
    check_embeddings("context", context, min_count=1)
    check_candidates(candidates, context[0].shape[1])
    return elementwise_product(context) @ candidates.T  # (B, C)
