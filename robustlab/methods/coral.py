"""COrAL — contrastive orthogonalised learning with asymmetric masking (arXiv 2602.14983).

Two paths:
  - shared: the CoMM fusion (`robustlab.methods.fusion`) of all modalities, trained with
    complementary asymmetric masking — view 1 removes each token of one modality with
    probability `mask_ratio` (~0.75), view 2 does the same to a *different* modality;
  - unique: per modality, its own encoder (same backbone options) -> tokenizer -> token MLP
    -> attention pooling -> u_m (width fusion_dim // 2).
Loss = NT-Xent(shared, view 1 vs view 2) + Σ_m NT-Xent(unique m, view 1 vs view 2)
       + ortho_weight × Σ_views Σ_pairs mean_rows cos²(p, q),
the pairs being every pair of {projected u_m..., projected shared}. Sums, not means, over
unique terms, pairs and views, as the published loss does, so `ortho_weight` = 1 means what
the published `ortho_weights=1` means (its trifeature setting).
Both views are also augmented (Gaussian noise, feature masking), as in CoMM.

**Our three-modality extension.** The published code is bimodal (view 1 masks modality 0,
view 2 modality 1). With three modalities we draw, per batch and from the loss generator, an
ordered pair of different modalities (i, j): view 1 masks i's tokens, view 2 masks j's; the
third modality is complete in both views. Orthogonality covers all C(4, 2) = 6 pairs (the
bimodal code's 3 pairs become 6, so the penalty can reach 12 instead of 6).

Missing modalities: removed from the shared fusion; on the unique path the learned "missing"
embedding replaces the unique encoder's output. Rows missing a modality leave the terms that
involve it. Retrieval as CoMM (shared path). Probe features: [s, u_a, u_b, u_c] (s = the
shared Z of all present modalities, before the head).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, default_generator, register
from robustlab.methods.comm import check_fusion_options
from robustlab.methods.common import ModalityEncoders, check_float
from robustlab.methods.fusion import (
    FusionMethod,
    Tokenizer,
    augment,
    nt_xent_rows,
    projection_head,
)
from robustlab.search_space import Distribution, FloatRange


@dataclass(frozen=True)
class CoralOptions:
    """fusion_* / num_tokens / proj_dim / temperature: as CoMM; mask_ratio: share of the masked
    modality's tokens removed in a view; ortho_weight: w_o (weight of the summed cos²
    penalty, as the published loss); noise_std, mask_prob: the input
    augmentations (as CoMM)."""

    fusion_dim: int = 64
    fusion_heads: int = 4
    fusion_layers: int = 1
    num_tokens: int = 4
    proj_dim: int = 64
    temperature: float = 0.1
    mask_ratio: float = 0.75
    ortho_weight: float = 1.0
    noise_std: float = 0.1
    mask_prob: float = 0.1

    def __post_init__(self) -> None:
        check_fusion_options(self)
        check_float(self, "mask_ratio", 0.0, 1.0)
        check_float(self, "ortho_weight", 0.0, 1e4)
        check_float(self, "noise_std", 0.0, 10.0)
        check_float(self, "mask_prob", 0.0, 1.0, high_open=True)


class AttentionPooling(nn.Module):
    """softmax(tokens · q) over tokens, q a learned query: (B, T, U) -> (B, U)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(width) / width**0.5)

    def forward(self, tokens: Tensor) -> Tensor:
        weights = torch.softmax(tokens @ self.query, dim=1)  # (B, T)
        return (weights[..., None] * tokens).sum(dim=1)  # (B, U)


class UniquePath(nn.Module):
    """One modality's unique path: its own encoder output (or the missing embedding) ->
    tokens -> token MLP -> attention pooling."""

    def __init__(self, dim: int, num_tokens: int, width: int) -> None:
        super().__init__()
        unique = max(1, width // 2)
        self.tokenizer = Tokenizer(dim, num_tokens, width)
        self.token_mlp = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, unique))
        self.pool = AttentionPooling(unique)

    def forward(self, h: Tensor) -> Tensor:
        return self.pool(self.token_mlp(self.tokenizer(h)))  # (B, U)


@register("coral")
class Coral(FusionMethod):
    Options = CoralOptions

    def __init__(self, options: CoralOptions, dims: Mapping[str, int], encoder: EncoderOptions):
        super().__init__()
        self.options = options
        self.build_shared_path(options, dims, encoder)
        o = options
        self.unique_encoders = ModalityEncoders(dims, encoder.build, encoder.dim)
        self.unique = nn.ModuleDict(
            {m: UniquePath(encoder.dim, o.num_tokens, o.fusion_dim) for m in dims}
        )
        self.unique_heads = nn.ModuleDict(
            {m: projection_head(max(1, o.fusion_dim // 2), o.proj_dim) for m in dims}
        )

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {
            **COMMON_SEARCH_SPACE,
            "temperature": FloatRange(0.05, 0.5, log=True),
            "ortho_weight": FloatRange(0.01, 10.0, log=True),
            "mask_ratio": FloatRange(0.5, 0.9),
        }

    def uniques(
        self, x: Mapping[str, Tensor], mask: Mapping[str, Tensor],
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """modality -> u_m (B, U), before the unique heads."""
        return {
            m: self.unique[m](self.unique_encoders(m, x[m], mask[m], generator))
            for m in self.modalities
        }

    def masked_keep(self, batch: Batch, modality: str, g: torch.Generator) -> dict[str, Tensor]:
        """Per-token keep masks of one view: `modality` loses each token w.p. mask_ratio."""
        keep: dict[str, Tensor] = dict(batch.mask)
        shape = (batch.size, self.options.num_tokens)
        drawn = torch.rand(shape, generator=g, device=g.device).to(batch.mask[modality].device)
        keep[modality] = (drawn >= self.options.mask_ratio) & batch.mask[modality][:, None]
        return keep  # modality -> (B,) or (B, T)

    def view(self, batch: Batch, masked: str, g: torch.Generator) -> dict[str, Tensor]:
        """One augmented, asymmetrically masked view: projected shared "s" and uniques."""
        o = self.options
        x = {m: augment(v, batch.mask[m], o.noise_std, o.mask_prob, g) for m, v in batch.x.items()}
        out = {"s": self.head(self.fusion.fuse(self.fusion.tokenize(x, g),
                                               self.masked_keep(batch, masked, g)))}
        for m, u in self.uniques(x, batch.mask, g).items():
            out[m] = self.unique_heads[m](u)  # (B, K)
        return out

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        g = default_generator(generator)
        o = self.options
        first, second = masked_pair(len(self.modalities), g)
        v1 = self.view(batch, self.modalities[first], g)
        v2 = self.view(batch, self.modalities[second], g)
        present = dict(batch.mask)
        present["s"] = torch.stack(list(batch.mask.values())).any(dim=0)  # (B,)
        terms: dict[str, Tensor] = {}
        for name in ["s", *self.modalities]:
            term = nt_xent_rows(v1[name], v2[name], o.temperature, present[name])
            if term is not None:
                terms["shared" if name == "s" else f"unique_{name}"] = term
        ortho = orthogonality([v1, v2], present)
        total = o.ortho_weight * ortho
        for term in terms.values():
            total = total + term
        terms["ortho"] = ortho  # reported unweighted
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def features(self, batch: Batch) -> Tensor:
        parts = [self.full(batch), *self.uniques(batch.x, batch.mask).values()]
        return torch.cat(parts, dim=1)  # (B, F + M·U)


def masked_pair(num_modalities: int, generator: torch.Generator) -> tuple[int, int]:
    """The (view 1, view 2) masked modalities of one batch: an ordered pair of different
    modalities, uniform over the M(M-1) pairs (our extension of the bimodal (0, 1))."""
    pick = torch.randperm(num_modalities, generator=generator, device=generator.device)
    return int(pick[0]), int(pick[1])


def orthogonality(views: list[dict[str, Tensor]], present: Mapping[str, Tensor]) -> Tensor:
    """Sum over views and over every pair of embeddings of the mean cos² across the rows
    where both are present (pairs with no such row contribute 0)."""
    values = []
    for v in views:
        for p, q in combinations(list(v), 2):
            rows = present[p] & present[q]  # (B,)
            if bool(rows.any()):
                values.append((F.cosine_similarity(v[p][rows], v[q][rows], dim=-1) ** 2).mean())
    first = next(iter(views[0].values()))
    return torch.stack(values).sum() if values else first.sum() * 0.0
