"""GRAM (Cicchetti et al., ICLR 2025), one of the Gated Symile paper's baselines (reference code
TillmannRheude/gated_symile, `losses/gram.py`).

Loss: `robustlab.core.gram_loss` — every modality takes a turn as anchor; logits are
exp(s) · (−volume) of the parallelotope the anchor row and a tuple of the other modalities
span, symmetric InfoNCE (rows and columns) with the positives on the diagonal, mean over the
anchors. Retrieval: −volume(candidate, context…), closed form in the pairwise dot products
(matmul speed). `normalize` L2-normalises the embeddings (on, as in the reference). The
learnable log logit scale is clamped at log(100); a missing modality is the learned "missing"
embedding, as for every embedding method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from robustlab.core import gram_anchor_losses, gram_scores
from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, Query, register
from robustlab.methods.clip import LOGIT_SCALE_INIT_RANGE
from robustlab.methods.common import (
    DEFAULT_LOG_SCALE,
    LOG_SCALE_MAX,
    EmbeddingMethod,
    check_bool,
    check_float,
    mean_of_terms,
)
from robustlab.search_space import Distribution


@dataclass(frozen=True)
class GramOptions:
    """normalize: L2-normalise the embeddings; logit_scale_init: initial log scale s
    (exp(s) multiplies −volume; s is clamped at log 100 in use)."""

    normalize: bool = True
    logit_scale_init: float = DEFAULT_LOG_SCALE

    def __post_init__(self) -> None:
        check_bool(self, "normalize")
        check_float(self, "logit_scale_init", -10.0, LOG_SCALE_MAX)


@register("gram")
class Gram(EmbeddingMethod):
    Options = GramOptions

    def __init__(self, options: GramOptions, dims: Mapping[str, int], encoder: EncoderOptions):
        super().__init__(dims, encoder, normalize=options.normalize,
                         logit_scale_init=options.logit_scale_init)
        self.options = options

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {**COMMON_SEARCH_SPACE, "logit_scale_init": LOGIT_SCALE_INIT_RANGE}

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        return gram_scores(self.context_embeddings(target, query), candidates)  # (B, C)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        losses = gram_anchor_losses(self.embed_batch(batch, generator), self.logit_scale())
        # "loss" = core.gram_loss; one named term per anchor modality
        return mean_of_terms({f"anchor_{m}": v for m, v in zip(self.modalities, losses,
                                                               strict=True)})
