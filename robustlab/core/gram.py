"""GRAM: the volume of the parallelotope one vector per modality spans (DESIGN §4).

Cicchetti et al., "Gramian Multimodal Representation Learning and Alignment", ICLR 2025; a
baseline of the Gated Symile paper (reference code TillmannRheude/gated_symile,
`losses/gram.py`). For vectors v_0 … v_k, `vol = sqrt(det G)` with `G_pq = ⟨v_p, v_q⟩`:
symmetric in the vectors, zero iff they are linearly dependent, `‖x‖‖y‖|sin θ|` for two, 1
for orthonormal ones. Aligned tuples span little volume, so the score of a tuple is −vol.

Closed form. Every entry of G is an inner product. For an anchor batch (B1, D) against
tuples (B2, D) (row j of every `others` tensor is one tuple), write G in blocks,
`G = [[‖a‖², qᵀ], [q, H]]`: `q_p = ⟨a_i, o_p,j⟩` is a (B2, B1) matmul, `H_pr = ⟨o_p,j, o_r,j⟩`
a row-wise dot per tuple. Then, exactly (also for singular H),
    det G = ‖a‖² det H − qᵀ adj(H) q,
with det H and the adjugate adj(H) from cofactors of the tuple-side (B2, 1) entries. For three
modalities that is the 3×3 determinant written out in the six dot products: two matmuls and a
few elementwise products, never a (B1, B2, D) tensor and never `torch.det` on (B1, B2, 3, 3)
stacks (which the reference builds). Rounding can push det G of a degenerate tuple slightly
below 0, so it is clamped at `eps` before the square root, which also keeps the gradient
finite when two vectors coincide. Computed in float32 at least, autocast off (`_precision`).
`logit_scale` is the already-exponentiated scale exp(s); the method clamps s at log 100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlab.core._checks import check_candidates, check_embeddings, check_logit_scale
from robustlab.core._precision import compute_dtype, full_precision

MAX_VECTORS = 6  # the cofactor expansion costs (k+1)! products: for a handful of modalities


def gram_volumes(anchor: Tensor, *others: Tensor, eps: float = 1e-8) -> Tensor:
    """(B1, B2) volumes: entry (i, j) spans `anchor[i]` and `others[0][j], …, others[k][j]`,
    `sqrt(max(det G, eps))`. `anchor`: (B1, D); each of `others`: (B2, D)."""
    _check_volume_args(anchor, others, eps)
    with full_precision(anchor):
        dt = compute_dtype(anchor, *others)
        tuples = TupleTerms.of([o.to(dt) for o in others])
        return _volumes(anchor.to(dt), tuples, eps).T  # (B1, B2)


def gram_scores(context: Sequence[Tensor], candidates: Tensor, *, eps: float = 1e-8,
                chunk_size: int = 1024) -> Tensor:
    """Retrieval scores `−vol(candidate, *context)` -> (B, C), higher = better.

    `context`: the non-target modalities of B queries, each (B, D); `candidates`: (C, D).
    Chunked over candidates (`chunk_size` at a time) for memory only."""
    check_embeddings("context", context, min_count=1)
    check_candidates(candidates, context[0].shape[1])
    _check_sizes(len(context) + 1, eps, chunk_size)
    with full_precision(candidates):
        dt = compute_dtype(candidates, *context)
        tuples = TupleTerms.of([c.to(dt) for c in context])  # the query side, once
        parts = [-_volumes(chunk.to(dt), tuples, eps)  # (B, c)
                 for chunk in candidates.split(chunk_size)]
    if not parts:
        return candidates.new_zeros((context[0].shape[0], 0), dtype=dt)
    return torch.cat(parts, dim=1)  # (B, C)


def gram_logits(anchor: Tensor, others: Sequence[Tensor], logit_scale: Tensor | float, *,
                eps: float = 1e-8) -> Tensor:
    """Training logits `logit_scale · (−vol)` of every anchor row against every tuple ->
    (B1, B2); with aligned batches the positives are on the diagonal."""
    check_logit_scale(logit_scale)
    return -logit_scale * gram_volumes(anchor, *others, eps=eps)


def gram_loss(embeddings: Sequence[Tensor], logit_scale: Tensor | float, *,
              eps: float = 1e-8) -> Tensor:
    """GRAM loss of M >= 2 aligned batches (N, D) -> scalar: the mean over anchors of
    `gram_anchor_losses` (same arguments)."""
    return torch.stack(gram_anchor_losses(embeddings, logit_scale, eps=eps)).mean()


def gram_anchor_losses(embeddings: Sequence[Tensor], logit_scale: Tensor | float, *,
                       eps: float = 1e-8) -> list[Tensor]:
    """Per anchor modality (in order), the symmetric InfoNCE over `gram_logits(anchor,
    the other modalities in order)`: the mean of the row and the column cross-entropy."""
    check_embeddings("embeddings", embeddings, min_count=2)
    terms = []
    for a, anchor in enumerate(embeddings):
        others = [e for m, e in enumerate(embeddings) if m != a]
        terms.append(symmetric_cross_entropy(gram_logits(anchor, others, logit_scale, eps=eps)))
    return terms


def symmetric_cross_entropy(logits: Tensor) -> Tensor:
    """CLIP's symmetric InfoNCE of an (N, N) logit matrix whose diagonal holds the positives:
    ½ (cross-entropy over rows + over columns)."""
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


# ---------------------------------------------------------------- the closed form


@dataclass(frozen=True)
class TupleTerms:
    """The tuple side of G, computed once per batch of tuples: H = [⟨o_p, o_r⟩] (entries
    (B2, 1)), det H and adj(H)."""

    others: list[Tensor]       # k × (B2, D)
    det_h: Tensor              # (B2, 1)
    adj_h: list[list[Tensor]]  # k × k × (B2, 1)

    @classmethod
    def of(cls, others: list[Tensor]) -> TupleTerms:
        h = [[(op * orr).sum(dim=-1)[:, None] for orr in others] for op in others]  # (B2, 1)
        return cls(others, _det(h), _adjugate(h))


def _volumes(anchor: Tensor, tuples: TupleTerms, eps: float) -> Tensor:
    """sqrt(max(‖a‖² det H − qᵀ adj(H) q, eps)) -> (B2, B1), tuples as rows (so retrieval
    scores come out (queries, candidates) without a transposed copy)."""
    aa = (anchor * anchor).sum(dim=-1)[None]  # (1, B1)
    q = [o @ anchor.T for o in tuples.others]  # k × (B2, B1): the only D-sized work
    det = aa * tuples.det_h  # (B2, B1)
    for p in range(len(q)):
        for r in range(p, len(q)):  # adj(H) is symmetric: each off-diagonal pair twice
            coef = tuples.adj_h[p][r] if p == r else 2 * tuples.adj_h[p][r]  # (B2, 1)
            det = torch.addcmul(det, q[p], coef * q[r], value=-1)  # one pass fewer than a − b·c
    return det.clamp_min(eps).sqrt()


def _det(m: list[list[Tensor]]) -> Tensor:
    """Determinant of a small matrix of broadcastable tensors, by cofactors along row 0."""
    if len(m) == 1:
        return m[0][0]
    if len(m) == 2:
        return m[0][0] * m[1][1] - m[0][1] * m[1][0]
    total = m[0][0] * _det(_minor(m, 0, 0))
    for j in range(1, len(m)):
        term = m[0][j] * _det(_minor(m, 0, j))
        total = total - term if j % 2 else total + term
    return total


def _minor(m: list[list[Tensor]], row: int, col: int) -> list[list[Tensor]]:
    return [r[:col] + r[col + 1:] for i, r in enumerate(m) if i != row]


def _adjugate(m: list[list[Tensor]]) -> list[list[Tensor]]:
    """adj(m)[p][r] = (−1)^(p+r) det(m without row r and column p); adj of 1×1 is [[1]]."""
    k = len(m)
    if k == 1:
        return [[torch.ones_like(m[0][0])]]
    return [[_det(_minor(m, r, p)) * (-1) ** (p + r) for r in range(k)] for p in range(k)]


# ---------------------------------------------------------------- validation


def _check_volume_args(anchor: Tensor, others: Sequence[Tensor], eps: float) -> None:
    check_embeddings("others", others, min_count=1)
    if not isinstance(anchor, Tensor) or anchor.dim() != 2 or \
            anchor.shape[1] != others[0].shape[1]:
        shape = tuple(anchor.shape) if isinstance(anchor, Tensor) else type(anchor).__name__
        raise ValueError(f"anchor: expected shape (B1, {others[0].shape[1]}) (the width of "
                         f"others), got {shape}")
    _check_sizes(len(others) + 1, eps, 1)


def _check_sizes(num_vectors: int, eps: float, chunk_size: int) -> None:
    if num_vectors > MAX_VECTORS:
        raise ValueError(f"others: at most {MAX_VECTORS - 1} tensors besides the anchor (the "
                         f"cofactor expansion is for a handful of modalities), got "
                         f"{num_vectors - 1}")
    if not eps > 0:
        raise ValueError(f"eps: must be > 0, got {eps}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be an int >= 1, got {chunk_size!r}")
