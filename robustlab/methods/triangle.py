"""TRIANGLE (Cicchetti et al., 2025), one of the Gated Symile paper's baselines (reference code
TillmannRheude/gated_symile, `losses/triangle.py`). Three modalities only.

Loss: `robustlab.core.triangle_loss` — every modality takes a turn as anchor; logits are
exp(s) · (−area) of the triangle (anchor row, tuple of the other two), symmetric InfoNCE
(rows and columns) with the positives on the diagonal, mean over the anchors. `squared`
(default, as the reference trains) uses the surrogate ½(‖u‖²‖v‖² − ⟨u,v⟩²), otherwise the
true area. Retrieval: −area(candidate, context pair), closed form (matmul speed); the
surrogate and the area rank candidates identically. `normalize` L2-normalises the embeddings
(on, as in the reference). The learnable log logit scale is clamped at log(100) and starts at
0 (a scale of 1), as the reference's `config/modelname/triangle.yaml`; the tuner searches it in
[−log 100, log 100], as GRAM's (see `robustlab.methods.gram`). A missing modality is the
learned "missing" embedding, as for every embedding method.

This loss differs from the reference's on purpose. The reference trains with its
memory-efficient area matrix, which takes ⟨b_i, c_j⟩ (i the anchor's row) where the triangle
(a_i, b_j, c_j) needs ⟨b_j, c_j⟩: only the positives (the diagonal) are scored on the right
triangles, every negative on a triangle that does not exist. We follow the math (and the
reference's own direct form). `reference_bug_compat: true` trains with the reference's
defective form instead, to reproduce its numbers or to measure what the defect costs;
retrieval is the correct form either way (as in the reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from robustlab.core import triangle_anchor_losses, triangle_scores
from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, Query, register
from robustlab.methods.common import (
    LOG_SCALE_MAX,
    EmbeddingMethod,
    check_bool,
    check_float,
    mean_of_terms,
)
from robustlab.methods.gram import BASELINE_LOG_SCALE, BASELINE_LOGIT_SCALE_INIT_RANGE
from robustlab.search_space import Distribution


@dataclass(frozen=True)
class TriangleOptions:
    """normalize: L2-normalise the embeddings; logit_scale_init: initial log scale s (exp(s)
    multiplies −area; s is clamped at log 100 in use; 0 as the reference); squared: train on
    the reference's surrogate ½(‖u‖²‖v‖² − ⟨u,v⟩²) instead of the area;
    reference_bug_compat: train with the reference's defective area matrix (⟨b_i, c_j⟩ for
    ⟨b_j, c_j⟩), off by default."""

    normalize: bool = True
    logit_scale_init: float = BASELINE_LOG_SCALE
    squared: bool = True
    reference_bug_compat: bool = False

    def __post_init__(self) -> None:
        check_bool(self, "normalize")
        check_float(self, "logit_scale_init", -10.0, LOG_SCALE_MAX)
        check_bool(self, "squared")
        check_bool(self, "reference_bug_compat")


@register("triangle")
class Triangle(EmbeddingMethod):
    Options = TriangleOptions

    def __init__(self, options: TriangleOptions, dims: Mapping[str, int],
                 encoder: EncoderOptions):
        if len(dims) != 3:
            raise ValueError(f"dims: triangle needs exactly three modalities, got "
                             f"{len(dims)} ({list(dims)})")
        super().__init__(dims, encoder, normalize=options.normalize,
                         logit_scale_init=options.logit_scale_init)
        self.options = options

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {**COMMON_SEARCH_SPACE, "logit_scale_init": BASELINE_LOGIT_SCALE_INIT_RANGE}

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        return triangle_scores(self.context_embeddings(target, query), candidates,
                               squared=self.options.squared)  # (B, C)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        losses = triangle_anchor_losses(
            self.embed_batch(batch, generator), self.logit_scale(), self.options.squared,
            reference_bug_compat=self.options.reference_bug_compat)
        # "loss" = core.triangle_loss; one named term per anchor modality
        return mean_of_terms({f"anchor_{m}": v for m, v in zip(self.modalities, losses,
                                                               strict=True)})
