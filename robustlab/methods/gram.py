"""GRAM (Cicchetti et al., ICLR 2025), one of the Gated Symile paper's baselines (reference code
TillmannRheude/gated_symile, `losses/gram.py`).

Loss: `robustlab.core.gram_loss` — every modality takes a turn as anchor; logits are
exp(s) · (−volume) of the parallelotope the anchor row and a tuple of the other modalities
span, symmetric InfoNCE (rows and columns) with the positives on the diagonal, mean over the
anchors. Retrieval: −volume(candidate, context…), closed form in the pairwise dot products
(matmul speed). `normalize` L2-normalises the embeddings (on, as in the reference). The
learnable log logit scale is clamped at log(100); a missing modality is the learned "missing"
embedding, as for every embedding method.

The log logit scale starts at 0 (a scale of 1), as the reference's `config/modelname/gram.yaml`
and `triangle.yaml` have it (`logit_scale_init: 0`), not at CLIP's log(1/0.07) ≈ 2.66 that the
other methods start from: from 2.66 GRAM memorises the training batches and retrieves at
chance on `synthetic_xnor` (docs/benchmarks/papers.md). The tuner searches s in
[−log 100, log 100] (scale 0.01 to 100) for GRAM and TRIANGLE, so the reference's start sits
inside the range rather than on the common range's lower edge 0; the reference's config also
notes −2.659 (a scale of 0.07) as an alternative, and from there GRAM learns too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from robustlab.core import gram_anchor_losses, gram_scores
from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, Query, register
from robustlab.methods.common import (
    LOG_SCALE_MAX,
    EmbeddingMethod,
    check_bool,
    check_float,
    mean_of_terms,
)
from robustlab.search_space import Distribution, FloatRange

#: GRAM's and TRIANGLE's initial log logit scale (the reference's `logit_scale_init: 0`).
BASELINE_LOG_SCALE = 0.0
#: ... and its search range: scales 0.01 to 100, the reference's start in the middle.
BASELINE_LOGIT_SCALE_INIT_RANGE = FloatRange(-LOG_SCALE_MAX, LOG_SCALE_MAX)


@dataclass(frozen=True)
class GramOptions:
    """normalize: L2-normalise the embeddings; logit_scale_init: initial log scale s
    (exp(s) multiplies −volume; s is clamped at log 100 in use; 0 as the reference)."""

    normalize: bool = True
    logit_scale_init: float = BASELINE_LOG_SCALE

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
        return {**COMMON_SEARCH_SPACE, "logit_scale_init": BASELINE_LOGIT_SCALE_INIT_RANGE}

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        return gram_scores(self.context_embeddings(target, query), candidates)  # (B, C)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        losses = gram_anchor_losses(self.embed_batch(batch, generator), self.logit_scale())
        # "loss" = core.gram_loss; one named term per anchor modality
        return mean_of_terms({f"anchor_{m}": v for m, v in zip(self.modalities, losses,
                                                               strict=True)})
