"""Symile (Saporta et al., NeurIPS 2024; reference code rajesh-lab/symile).

Loss: `robustlab.core.symile_loss` — every modality takes a turn as anchor, logits are
exp(s) · MIP, negatives "n" (one random permutation per non-anchor modality, drawn from the
loss generator) or "n_squared" (all N² pairs, chunked). Retrieval: the MIP of the candidate
with the context pair, one matmul. `normalize` L2-normalises the embeddings (the reference
does so for synthetic data and not for real data). The learnable log logit scale is clamped
at log(100) (the reference does not clamp).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from robustlab.core import mip_scores, symile_anchor_losses
from robustlab.core.symile_n2 import DEFAULT_MEMORY_BUDGET
from robustlab.data.batch import Batch
from robustlab.methods.base import (
    COMMON_SEARCH_SPACE,
    EncoderOptions,
    Query,
    default_generator,
    register,
)
from robustlab.methods.clip import LOGIT_SCALE_INIT_RANGE
from robustlab.methods.common import (
    DEFAULT_LOG_SCALE,
    LOG_SCALE_MAX,
    EmbeddingMethod,
    check_bool,
    check_choice,
    check_float,
    check_int,
    mean_of_terms,
)
from robustlab.search_space import Distribution


@dataclass(frozen=True)
class SymileOptions:
    """negatives: "n" (O(N) sampled) or "n_squared" (all pairs); normalize: L2-normalise the
    embeddings; logit_scale_init: initial log scale s (clamped at log 100 in use).
    n_squared only (memory and speed, never results): memory_budget_mib bounds the loss's
    working memory (blocks, plus forward logits kept for the backward); chunk_size pins the
    rows of the middle modality per block (null: sized automatically)."""

    negatives: Literal["n", "n_squared"] = "n"
    normalize: bool = True
    logit_scale_init: float = DEFAULT_LOG_SCALE
    chunk_size: int | None = None
    memory_budget_mib: float = DEFAULT_MEMORY_BUDGET / 2**20

    def __post_init__(self) -> None:
        check_choice(self, "negatives", ("n", "n_squared"))
        check_bool(self, "normalize")
        check_float(self, "logit_scale_init", -10.0, LOG_SCALE_MAX)
        if self.chunk_size is not None:
            check_int(self, "chunk_size", 1)
        check_float(self, "memory_budget_mib", 0.0, 2.0**20, low_open=True)


@register("symile")
class Symile(EmbeddingMethod):
    Options = SymileOptions

    def __init__(self, options: SymileOptions, dims: Mapping[str, int], encoder: EncoderOptions):
        super().__init__(dims, encoder, normalize=options.normalize,
                         logit_scale_init=options.logit_scale_init)
        self.options = options

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {**COMMON_SEARCH_SPACE, "logit_scale_init": LOGIT_SCALE_INIT_RANGE}

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        return mip_scores(self.context_embeddings(target, query), candidates)  # (B, C)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        g = default_generator(generator)
        budget = max(1, int(self.options.memory_budget_mib * 2**20))  # bytes
        losses = symile_anchor_losses(self.embed_batch(batch, g), self.logit_scale(),
                                      self.options.negatives, generator=g,
                                      chunk_size=self.options.chunk_size,
                                      memory_budget=budget)
        # "loss" = core.symile_loss; one named term per anchor modality
        return mean_of_terms({f"anchor_{m}": v for m, v in zip(self.modalities, losses,
                                                               strict=True)})
