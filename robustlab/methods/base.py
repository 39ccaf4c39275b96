"""The one interface every method exposes (open_clip style: encode, score, loss).

A registered method is a `Method` subclass with:
  - `Options`: a frozen dataclass of its own options (the YAML keys of a study's variant);
    every field has a default, unknown keys are an error (no **kwargs catch-alls);
  - `build(options, dims, encoder)`: construct it for a dataset's modality widths;
  - `search_space()`: name -> distribution (robustlab.search_space) of what the tuner may
    vary: training-config fields (lr, weight_decay, ...) and fields of `Options`.

Queries are per-method dicts of tensors: for Symile the context embeddings by modality, for
CoMM the fused context embedding. Evaluation never looks inside them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from robustlab.data.batch import Batch
from robustlab.search_space import Distribution

Query = dict[str, Tensor]


class Method(nn.Module, ABC):
    """Base class of every method. Subclasses keep losses stateless and return named terms."""

    Options: ClassVar[type]
    modalities: tuple[str, ...]

    @classmethod
    @abstractmethod
    def build(cls, options: Any, dims: Mapping[str, int], encoder: Any) -> Method:
        """A fresh model for modality widths `dims` with the shared encoder config."""

    @classmethod
    @abstractmethod
    def search_space(cls) -> dict[str, Distribution]:
        """What the tuner may vary for this method (training fields and option fields)."""

    @abstractmethod
    def encode(self, modality: str, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, d_m) inputs (+ (B,) presence mask) -> (B, D) embeddings of one modality."""

    @abstractmethod
    def encode_query(self, batch: Batch, target: str) -> Query:
        """The context side of retrieval: everything but `target`, for B queries."""

    @abstractmethod
    def encode_candidates(self, target: str, x: Tensor) -> Tensor:
        """(C, d_target) candidate inputs -> (C, D') candidate representations."""

    @abstractmethod
    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        """(B, C) scores of every candidate for every query; higher = more likely."""

    @abstractmethod
    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Named loss terms; "loss" is the total that training minimises."""

    @abstractmethod
    def features(self, batch: Batch) -> Tensor:
        """(B, F) frozen features for the linear-probe protocol."""

    def param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups; override to give e.g. a gate its own lr, no decay."""
        return [{"params": [p for p in self.parameters() if p.requires_grad],
                 "lr": lr, "weight_decay": weight_decay}]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
