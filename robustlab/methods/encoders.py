"""The encoder registry: one backbone config shared by every method (equal capacity).

A study's `encoder: {kind: mlp, dim: 256, depth: 3}` picks `ENCODERS.get("mlp")` and builds
its frozen options from the other keys. `options.build(in_dim)` returns a module mapping
(B, in_dim) -> (B, options.dim); its `forward(x, generator=None)` draws dropout masks from
`generator` only (never the global RNG).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.methods.base import default_generator
from robustlab.methods.common import check_bool, check_float, check_int, dropout
from robustlab.registry import Registry


def check_encoder_class(cls: object) -> None:
    """What makes a class usable as an encoder config (built-in or plugin); a TypeError says
    which rule it breaks: a frozen dataclass with a `dim` field (the embedding width D) and
    a `build(in_dim)` method returning the module."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)
            and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"{cls!r} must be a frozen dataclass (its fields are the YAML options)")
    if "dim" not in {f.name for f in dataclasses.fields(cls)}:
        raise TypeError(f"{cls.__name__} has no field 'dim' (the embedding width)")
    if not callable(getattr(cls, "build", None)):
        raise TypeError(f"{cls.__name__} has no method build(in_dim) -> nn.Module")


def _plugin_encoder(name: str, cls: Any) -> type:
    check_encoder_class(cls)
    return cls


#: `encoder.kind` -> options class: built-ins and plugins (group `robustlab.encoders`).
ENCODERS: Registry[type] = Registry("encoder", "robustlab.encoders", _plugin_encoder)


class MLPEncoder(nn.Module):
    """`depth` linear layers: in -> hidden -> ... -> dim, each hidden layer followed by
    (LayerNorm), GELU and dropout. depth = 1 is a single linear map."""

    def __init__(
        self, in_dim: int, dim: int, depth: int, hidden: int, p: float, layer_norm: bool
    ) -> None:
        super().__init__()
        widths = [in_dim] + [hidden] * (depth - 1) + [dim]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.norms = nn.ModuleList(
            nn.LayerNorm(w) if layer_norm else nn.Identity() for w in widths[1:-1]
        )
        self.p = p

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        out: Tensor = self.last(self.hidden(x, generator))  # (B, dim)
        return out

    def hidden(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Every layer but the last linear one: (B, in_dim) -> its input (x for depth 1).
        A consumer that applies its own linear map next can multiply the two maps first
        (see `robustlab.methods.fusion.linear_after`)."""
        for linear, norm in zip(self.linears[:-1], self.norms, strict=True):
            x = nn.functional.gelu(norm(linear(x)))  # (B, hidden)
            if self.training and self.p > 0:
                x = dropout(x, self.p, default_generator(generator), True)
        return x

    @property
    def last(self) -> nn.Linear:
        """The final linear layer (no activation after it)."""
        last = self.linears[-1]
        assert isinstance(last, nn.Linear)
        return last


@ENCODERS.register("mlp")
@dataclass(frozen=True)
class Mlp:
    """Options of the `mlp` encoder.

    dim:        output embedding width D (every method's per-modality embedding)
    depth:      number of linear layers (>= 1)
    hidden:     width of the hidden layers
    dropout:    dropout probability after each hidden layer, in [0, 1)
    layer_norm: LayerNorm before each hidden activation
    """

    dim: int = 256
    depth: int = 3
    hidden: int = 256
    dropout: float = 0.0
    layer_norm: bool = True

    def __post_init__(self) -> None:
        check_int(self, "dim", 1)
        check_int(self, "depth", 1, 16)
        check_int(self, "hidden", 1)
        check_float(self, "dropout", 0.0, 1.0, high_open=True)
        check_bool(self, "layer_norm")

    def build(self, in_dim: int) -> nn.Module:
        if not isinstance(in_dim, int) or in_dim < 1:
            raise ValueError(f"Mlp.build: in_dim must be a positive int, got {in_dim!r}")
        return MLPEncoder(in_dim, self.dim, self.depth, self.hidden, self.dropout, self.layer_norm)
