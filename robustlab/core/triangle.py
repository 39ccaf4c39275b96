"""TRIANGLE: the area of the triangle one vector per modality spans (DESIGN §4).

Cicchetti et al., 2025 (triangle-area similarity for three modalities); a baseline of the
Gated Symile paper (reference code TillmannRheude/gated_symile, `losses/triangle.py`). For
vertices a, b, c with sides u = a − b, v = a − c:
    area = ½ sqrt(‖u‖²‖v‖² − ⟨u, v⟩²)            (`squared=False`: ½ sqrt(· + eps))
    surrogate = ½ (‖u‖²‖v‖² − ⟨u, v⟩²)            (`squared=True`, the reference's default)
both clamped at 0 (rounding can push the difference below it). The surrogate is not the
squared area (that would be a quarter of the difference); the name follows the reference.
Aligned tuples span small triangles, so the score of a tuple is −area.

Closed form. Any vertex gives the same area; we take the sides from b: for anchor rows a_i
(B1, D) against tuples (b_j, c_j) (B2, D), with the tuple's own side w_j = c_j − b_j,
    ‖a_i − b_j‖² = ‖a_i‖² + ‖b_j‖² − 2⟨a_i, b_j⟩      ⟨a_i − b_j, w_j⟩ = ⟨a_i, w_j⟩ − ⟨b_j, w_j⟩
    surrogate = ½ (‖a_i − b_j‖² ‖w_j‖² − ⟨a_i − b_j, w_j⟩²)
two (B2, B1) matmuls and per-row terms; never a (B1, B2, D) tensor. (Expanding ‖u‖², ‖v‖² and
⟨u, v⟩ from a costs more elementwise passes, and w_j is exact where c_j − b_j would cancel.)
Float32 at least, autocast off (`_precision`).

The reference's defect. Its memory-efficient form (`compute_triangle_area_matrix_efficient`,
the one its loss trains with) takes the cross term from the full matrix `b @ cᵀ`, i.e.
⟨b_i, c_j⟩ (i the anchor row) where the triangle (a_i, b_j, c_j) needs ⟨b_j, c_j⟩. Only the
diagonal agrees, so its negatives are scored on triangles that do not exist. Its direct
(B, B, D) form and its retrieval scorer are right. We follow the math;
`triangle_areas_reference_bug` reproduces the reference's efficient form for comparison
(and for the method's `reference_bug_compat` option).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from robustlab.core._checks import check_candidates, check_embeddings, check_logit_scale
from robustlab.core._precision import compute_dtype, full_precision
from robustlab.core.gram import symmetric_cross_entropy


def triangle_areas(anchor: Tensor, b: Tensor, c: Tensor, squared: bool = True,
                   eps: float = 1e-8) -> Tensor:
    """(B1, B2) areas (or the `squared` surrogate) of the triangles (anchor[i], b[j], c[j]).
    `anchor`: (B1, D); `b`, `c`: (B2, D)."""
    _check_triangle_args(anchor, b, c, eps)
    with full_precision(anchor):
        dt = compute_dtype(anchor, b, c)
        sides = TupleSides.of(b.to(dt), c.to(dt))
        return _finish(_doubled_area_sq(sides, anchor.to(dt)), squared, eps).T  # (B1, B2)


def triangle_areas_reference_bug(anchor: Tensor, b: Tensor, c: Tensor, squared: bool = True,
                                 eps: float = 1e-8) -> Tensor:
    """The reference's memory-efficient form, defect included: its expansion from a with
    ⟨b_i, c_j⟩ in place of ⟨b_j, c_j⟩ (needs B1 == B2). Equals `triangle_areas` on the
    diagonal only."""
    _check_triangle_args(anchor, b, c, eps)
    if anchor.shape[0] != b.shape[0]:
        raise ValueError(f"anchor: the reference form needs as many rows as b, got "
                         f"{anchor.shape[0]} and {b.shape[0]}")
    with full_precision(anchor):
        dt = compute_dtype(anchor, b, c)
        a, b, c = anchor.to(dt), b.to(dt), c.to(dt)
        a2 = (a * a).sum(dim=-1, keepdim=True)  # (B, 1)
        ab, ac, bc = a @ b.T, a @ c.T, b @ c.T  # (B, B); bc[i, j] = ⟨b_i, c_j⟩: the defect
        uu = a2 + (b * b).sum(dim=-1)[None] - 2 * ab
        vv = a2 + (c * c).sum(dim=-1)[None] - 2 * ac
        uv = a2 - ab - ac + bc
        return _finish(uu * vv - uv * uv, squared, eps)


def triangle_scores(context: Sequence[Tensor], candidates: Tensor, *, squared: bool = True,
                    eps: float = 1e-8, chunk_size: int = 1024) -> Tensor:
    """Retrieval scores `−area(candidate, context[0], context[1])` -> (B, C), higher = better.

    `context`: the two non-target modalities of B queries, each (B, D); `candidates`:
    (C, D). The area is symmetric in its vertices, so which modality is the target does not
    matter. Chunked over candidates (`chunk_size` at a time) for memory only."""
    check_embeddings("context", context, min_count=2)
    if len(context) != 2:
        raise ValueError(f"context: a triangle needs exactly 2 context tensors, got "
                         f"{len(context)}")
    check_candidates(candidates, context[0].shape[1])
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be an int >= 1, got {chunk_size!r}")
    _check_eps(eps)
    with full_precision(candidates):
        dt = compute_dtype(candidates, *context)
        sides = TupleSides.of(context[0].to(dt), context[1].to(dt))  # the query side, once
        parts = [-_finish(_doubled_area_sq(sides, chunk.to(dt)), squared, eps)  # (B, c)
                 for chunk in candidates.split(chunk_size)]
    if not parts:
        return candidates.new_zeros((context[0].shape[0], 0), dtype=dt)
    return torch.cat(parts, dim=1)  # (B, C)


def triangle_logits(anchor: Tensor, b: Tensor, c: Tensor, logit_scale: Tensor | float, *,
                    squared: bool = True, eps: float = 1e-8,
                    reference_bug_compat: bool = False) -> Tensor:
    """Training logits `logit_scale · (−area)` of every anchor row against every (b_j, c_j)
    -> (B1, B2); with aligned batches the positives are on the diagonal.
    `reference_bug_compat` scores with the reference's defective form instead."""
    check_logit_scale(logit_scale)
    areas = triangle_areas_reference_bug if reference_bug_compat else triangle_areas
    return -logit_scale * areas(anchor, b, c, squared, eps)


def triangle_loss(embeddings: Sequence[Tensor], logit_scale: Tensor | float,
                  squared: bool = True, *, eps: float = 1e-8,
                  reference_bug_compat: bool = False) -> Tensor:
    """TRIANGLE loss of three aligned batches (N, D) -> scalar: the mean over anchors of
    `triangle_anchor_losses` (same arguments)."""
    return torch.stack(triangle_anchor_losses(
        embeddings, logit_scale, squared, eps=eps,
        reference_bug_compat=reference_bug_compat)).mean()


def triangle_anchor_losses(embeddings: Sequence[Tensor], logit_scale: Tensor | float,
                           squared: bool = True, *, eps: float = 1e-8,
                           reference_bug_compat: bool = False) -> list[Tensor]:
    """Per anchor modality (in order), the symmetric InfoNCE over `triangle_logits(anchor,
    the other two modalities in order)`."""
    check_embeddings("embeddings", embeddings, min_count=3)
    if len(embeddings) != 3:
        raise ValueError(f"embeddings: a triangle needs exactly 3 modalities, got "
                         f"{len(embeddings)}")
    terms = []
    for a, anchor in enumerate(embeddings):
        b, c = (e for m, e in enumerate(embeddings) if m != a)
        logits = triangle_logits(anchor, b, c, logit_scale, squared=squared, eps=eps,
                                 reference_bug_compat=reference_bug_compat)
        terms.append(symmetric_cross_entropy(logits))
    return terms


@dataclass(frozen=True)
class TupleSides:
    """The tuple side of the closed form, computed once per batch of tuples (b_j, c_j)."""

    b: Tensor   # (B2, D)
    w: Tensor   # (B2, D): c_j − b_j, the tuple's own side
    bb: Tensor  # (B2, 1): ‖b_j‖²
    ww: Tensor  # (B2, 1): ‖w_j‖²
    bw: Tensor  # (B2, 1): ⟨b_j, w_j⟩

    @classmethod
    def of(cls, b: Tensor, c: Tensor) -> TupleSides:
        w = c - b
        return cls(b, w, (b * b).sum(dim=-1, keepdim=True), (w * w).sum(dim=-1, keepdim=True),
                   (b * w).sum(dim=-1, keepdim=True))


def _doubled_area_sq(sides: TupleSides, anchor: Tensor) -> Tensor:
    """(2 · area)² = ‖a_i − b_j‖² ‖w_j‖² − ⟨a_i − b_j, w_j⟩² -> (B2, B1), tuples as rows."""
    aa = (anchor * anchor).sum(dim=-1)[None]  # (1, B1)
    ab = sides.b @ anchor.T  # (B2, B1): the D-sized work, with the next line
    aw = sides.w @ anchor.T
    uu = aa + sides.bb - 2 * ab  # ‖a_i − b_j‖²
    uw = aw - sides.bw  # ⟨a_i − b_j, w_j⟩
    return uu * sides.ww - uw * uw


def _finish(det: Tensor, squared: bool, eps: float) -> Tensor:
    """Clamp the (2 · area)² at 0 (rounding), then the surrogate ½ det or the area."""
    det = det.clamp_min(0.0)
    return 0.5 * det if squared else 0.5 * (det + eps).sqrt()


def _check_triangle_args(anchor: Tensor, b: Tensor, c: Tensor, eps: float) -> None:
    check_embeddings("(b, c)", [b, c], min_count=2)
    if not isinstance(anchor, Tensor) or anchor.dim() != 2 or anchor.shape[1] != b.shape[1]:
        shape = tuple(anchor.shape) if isinstance(anchor, Tensor) else type(anchor).__name__
        raise ValueError(f"anchor: expected shape (B1, {b.shape[1]}) (the width of b and c), "
                         f"got {shape}")
    _check_eps(eps)


def _check_eps(eps: float) -> None:
    if not eps > 0:
        raise ValueError(f"eps: must be > 0, got {eps}")
