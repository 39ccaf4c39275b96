"""`pair_temp_clip`: pairwise CLIP with a learned temperature per modality pair.

robustlab's `clip` shares one temperature across the three modality pairs. When one modality
is noisier than the others, the pairs it belongs to carry less information and a single
temperature must compromise. Here each pair (p, q) has its own learnable log-scale s_pq
(clamped at log 100, like CLIP's): its symmetric InfoNCE term uses exp(s_pq). With
`weighted_score` (the default), retrieval of target t weighs each context modality by its
pair's learned scale,

    score(x | context) = Σ_{m ≠ t} w_tm ⟨x, e_m⟩,   w_t = (M - 1) · softmax_m(s_tm),

so a context modality that training found less reliable counts less; with equal scales (or
`weighted_score: false`) it is CLIP's score ⟨x, y⟩ + ⟨x, z⟩.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import torch
from robustlab.core import clip_scores, info_nce
from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, Query
from robustlab.methods.common import (
    DEFAULT_LOG_SCALE,
    LOG_SCALE_MAX,
    EmbeddingMethod,
    LogitScale,
    check_bool,
    check_float,
    mean_of_terms,
)
from robustlab.search_space import Distribution, FloatRange
from torch import Tensor, nn


@dataclass(frozen=True)
class PairTempClipOptions:
    """normalize: L2-normalise embeddings; logit_scale_init: every pair's initial log scale;
    weighted_score: weigh context modalities by their pair's learned scale at retrieval."""

    normalize: bool = True
    logit_scale_init: float = DEFAULT_LOG_SCALE
    weighted_score: bool = True

    def __post_init__(self) -> None:
        check_bool(self, "normalize")
        check_float(self, "logit_scale_init", -10.0, LOG_SCALE_MAX)
        check_bool(self, "weighted_score")


class PairTempClip(EmbeddingMethod):
    """Registered by the entry point `pair_temp_clip` (see this plugin's pyproject.toml)."""

    Options = PairTempClipOptions

    def __init__(self, options: PairTempClipOptions, dims: Mapping[str, int],
                 encoder: EncoderOptions) -> None:
        super().__init__(dims, encoder, normalize=options.normalize,
                         logit_scale_init=options.logit_scale_init)
        del self.logit_scale  # one scale per pair replaces the shared one
        self.options = options
        self.pair_scales = nn.ModuleDict({
            self._key(p, q): LogitScale(options.logit_scale_init)
            for p, q in combinations(self.modalities, 2)})

    def log_scale(self, p: str, q: str) -> Tensor:
        """The learnable (unclamped) log scale of the pair (p, q)."""
        scale: LogitScale = self.pair_scales[self._key(p, q)]  # type: ignore[assignment]
        return scale.log_scale

    def _key(self, p: str, q: str) -> str:
        first, second = sorted((p, q), key=self.modalities.index)
        return f"{first}_{second}"

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {**COMMON_SEARCH_SPACE, "logit_scale_init": FloatRange(math.log(1.0),
                                                                      LOG_SCALE_MAX)}

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        emb = dict(zip(self.modalities, self.embed_batch(batch, generator), strict=True))
        terms = {f"pair_{p}_{q}": info_nce(emb[p], emb[q], self.pair_scales[self._key(p, q)]())
                 for p, q in combinations(self.modalities, 2)}
        return mean_of_terms(terms)

    def context_weights(self, target: str) -> Tensor:
        """(M-1,) weights of the context modalities of `target`; they sum to M - 1."""
        context = self.context_of(target)
        logs = torch.stack([self.log_scale(target, m).clamp(max=LOG_SCALE_MAX)
                            for m in context])  # (M-1,)
        return torch.softmax(logs, dim=0) * len(context)

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        context = self.context_embeddings(target, query)  # M-1 tensors (B, D)
        if not self.options.weighted_score:
            return clip_scores(context, candidates)  # (B, C)
        weights = self.context_weights(target).to(candidates.dtype)
        summed = torch.stack([w * e for w, e in zip(weights, context, strict=True)]).sum(0)
        return summed @ candidates.T  # (B, D) @ (D, C) -> (B, C)
