"""CLIP applied pairwise to three modalities (DESIGN §4).

Loss: symmetric InfoNCE on each of the M(M-1)/2 modality pairs, averaged; the named terms
are the pairs ("pair_a_b", ...). Retrieval score of candidate x given context (y, z):
⟨x, y⟩ + ⟨x, z⟩. The learnable log logit scale is clamped at log(100), as in CLIP.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import torch
from torch import Tensor

from robustlab.core import clip_scores, info_nce
from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, Query, register
from robustlab.methods.common import (
    DEFAULT_LOG_SCALE,
    LOG_SCALE_MAX,
    EmbeddingMethod,
    check_bool,
    check_float,
    mean_of_terms,
)
from robustlab.search_space import Distribution, FloatRange

LOGIT_SCALE_INIT_RANGE = FloatRange(math.log(1.0), LOG_SCALE_MAX)


@dataclass(frozen=True)
class ClipOptions:
    """normalize: L2-normalise embeddings (CLIP does); logit_scale_init: initial log scale s
    (exp(s) multiplies the logits; s is clamped at log 100 in use)."""

    normalize: bool = True
    logit_scale_init: float = DEFAULT_LOG_SCALE

    def __post_init__(self) -> None:
        check_bool(self, "normalize")
        check_float(self, "logit_scale_init", -10.0, LOG_SCALE_MAX)


@register("clip")
class Clip(EmbeddingMethod):
    Options = ClipOptions

    def __init__(self, options: ClipOptions, dims: Mapping[str, int], encoder: EncoderOptions):
        super().__init__(dims, encoder, normalize=options.normalize,
                         logit_scale_init=options.logit_scale_init)
        self.options = options

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {**COMMON_SEARCH_SPACE, "logit_scale_init": LOGIT_SCALE_INIT_RANGE}

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        return clip_scores(self.context_embeddings(target, query), candidates)  # (B, C)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        emb = dict(zip(self.modalities, self.embed_batch(batch, generator), strict=True))
        scale = self.logit_scale()
        terms = {f"pair_{p}_{q}": info_nce(emb[p], emb[q], scale)
                 for p, q in combinations(self.modalities, 2)}
        return mean_of_terms(terms)  # "loss" = core.clip_loss
