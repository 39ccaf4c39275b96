"""Pieces shared by the methods: option validation, the logit scale, per-modality encoders
with the learned "missing" embedding (DESIGN §4), generator-driven dropout, and
`EmbeddingMethod`, the common body of CLIP, Symile and Gated Symile."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.data.batch import Batch
from robustlab.methods.base import EncoderOptions, Method, Query, Stacked

LOG_SCALE_MAX = math.log(100.0)
DEFAULT_LOG_SCALE = math.log(1 / 0.07)  # CLIP's initial temperature 0.07


# --- option validation: every error names the option class, the field, the value and what is valid


def check(owner: object, field: str, ok: bool, valid: str) -> None:
    if not ok:
        value = getattr(owner, field)
        raise ValueError(f"{type(owner).__name__}.{field}: must be {valid}, got {value!r}")


def check_choice(owner: object, field: str, valid: Collection[Any]) -> None:
    value = getattr(owner, field)
    ok = isinstance(value, str | bool | type(None)) and value in valid
    check(owner, field, ok, "one of " + ", ".join(repr(v) for v in valid))


def check_bool(owner: object, field: str) -> None:
    check(owner, field, isinstance(getattr(owner, field), bool), "a bool (true/false)")


def check_int(owner: object, field: str, low: int, high: int | None = None) -> None:
    v = getattr(owner, field)
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high)
    check(owner, field, ok, f"an int in [{low}, {'∞' if high is None else high}]")


def check_float(
    owner: object, field: str, low: float, high: float, *, low_open: bool = False,
    high_open: bool = False,
) -> None:
    v = getattr(owner, field)
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    check(owner, field, ok, f"a finite number in {interval}")


# --- modules


class LogitScale(nn.Module):
    """A learnable log logit scale; `forward()` returns exp(s) with s clamped at log(100)
    (as CLIP does; the Symile reference does not clamp, we do so temperatures stay sane)."""

    def __init__(self, init: float) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(float(init)))

    def forward(self) -> Tensor:
        return self.log_scale.clamp(max=LOG_SCALE_MAX).exp()


def dropout(x: Tensor, p: float, generator: torch.Generator, training: bool) -> Tensor:
    """Inverted dropout whose mask comes from `generator` (nn.Dropout only knows the global
    RNG). The mask is drawn on the generator's device, then moved to x's."""
    if not training or p == 0.0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=generator.device) >= p
    return x * keep.to(x.device) / (1.0 - p)


class ModalityEncoders(Stacked):
    """One encoder per modality, all built from the same encoder options (equal capacity;
    one stacked module where they are alike, `robustlab.methods.stacked.Encoders`), plus a
    learned "missing" embedding per modality — `missing` (M, D), row i for modality i — that
    replaces the encoder output on rows whose mask is False (the reference Symile
    treatment, DESIGN §4)."""

    def __init__(self, dims: Mapping[str, int], build: Callable[[int], nn.Module], dim: int):
        super().__init__()
        from robustlab.methods.stacked import Encoders  # stacked.py imports this module

        self.modalities = tuple(dims)
        self.encoders = Encoders(self.modalities, [build(d) for d in dims.values()])
        self.missing = nn.Parameter(torch.stack([torch.randn(dim) / math.sqrt(dim)
                                                 for _ in dims]))  # (M, D)

    def forward(
        self, modality: str, x: Tensor, mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """One modality's (B, D) embeddings."""
        i = self.modalities.index(modality)
        return self.embed([x], [i], None if mask is None else [mask], generator)[0]

    def embed(self, x: Sequence[Tensor], which: Sequence[int], masks: Sequence[Tensor] | None,
              generator: torch.Generator | None = None) -> Tensor:
        """The modalities `which` (indices in modality order) on their inputs x[s] (B, d_s),
        masks[s] (B,) -> (S, B, D), in one pass where the encoders are stacked."""
        h = self.encoders(x, which, generator)  # (S, B, D)
        if masks is None:
            return h
        whole = list(which) == list(range(len(self.modalities)))
        missing = (self.missing if whole else self.missing[list(which)])[:, None].to(h.dtype)
        return torch.where(torch.stack(list(masks))[:, :, None], h, missing)  # (S, B, D)


def mean_of_terms(terms: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A loss dict: "loss" = the mean of the named scalar `terms` (it carries the graph),
    plus each term detached, for logging."""
    total = torch.stack(list(terms.values())).mean()
    return {"loss": total, **{k: v.detach() for k, v in terms.items()}}


def maybe_normalize(x: Tensor, normalize: bool) -> Tensor:
    return F.normalize(x, dim=-1, eps=1e-8) if normalize else x


class EmbeddingMethod(Method):
    """Methods that score with per-modality embeddings (CLIP, Symile, Gated Symile):
    encoder -> learned missing embedding on masked rows -> optional L2 normalisation.
    Queries hold the context embeddings by modality and their masks under "mask:<m>";
    probe features are the per-modality embeddings concatenated, (B, M·D)."""

    def __init__(self, dims: Mapping[str, int], encoder: EncoderOptions, *, normalize: bool,
                 logit_scale_init: float) -> None:
        super().__init__()
        self.modalities = tuple(dims)
        self.normalize = normalize
        self.embed = ModalityEncoders(dims, encoder.build, encoder.dim)
        self.logit_scale = LogitScale(logit_scale_init)

    def encode(self, modality: str, x: Tensor, mask: Tensor | None = None, *,
               generator: torch.Generator | None = None) -> Tensor:
        return maybe_normalize(self.embed(modality, x, mask, generator), self.normalize)

    def embed_batch(self, batch: Batch, generator: torch.Generator | None = None) -> list[Tensor]:
        """Every modality's (B, D) embedding, in modality order (one pass where the encoders
        are stacked)."""
        ms = self.modalities
        h = self.embed.embed([batch.x[m] for m in ms], range(len(ms)),
                             [batch.mask[m] for m in ms], generator)  # (M, B, D)
        return list(maybe_normalize(h, self.normalize).unbind(0))

    def encode_query(self, batch: Batch, target: str) -> Query:
        query = {m: self.encode(m, batch.x[m], batch.mask[m]) for m in self.context_of(target)}
        return query | {f"mask:{m}": batch.mask[m] for m in self.context_of(target)}

    def encode_candidates(self, target: str, x: Tensor, mask: Tensor | None = None) -> Tensor:
        self.context_of(target)
        return self.encode(target, x, mask)  # (C, D)

    def context_embeddings(self, target: str, query: Query) -> list[Tensor]:
        return [query[m] for m in self.context_of(target)]

    def features(self, batch: Batch) -> Tensor:
        return torch.cat(self.embed_batch(batch), dim=1)  # (B, M·D)
