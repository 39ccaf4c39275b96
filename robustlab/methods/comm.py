"""CoMM — "What to align in multimodal contrastive learning?" (Dufumier et al., ICLR 2025).

Tokens per modality -> one fusion transformer -> Z (see `robustlab.methods.fusion`). Training
draws two augmented views (Gaussian noise, random feature masking) of the batch and, for
every view m in {each single modality, full}, averages ½[ℓ(Z'_m, Z''_full) + ℓ(Z''_m, Z'_full)]
with ℓ = NT-Xent at temperature τ, after the projection head (as the published loss does,
the full view is contrasted with itself too).

Rows where view m has no modality present (a missing modality) are left out of that view's
term: their Z is the CLS-only output, which carries no example information.
`pair_views` (our addition, off by default) also aligns each two-modality view with the full
one, so the retrieval query Z(context pair) is a view the loss has seen.

Retrieval: cos(head(Z(context, target removed)), head(Z(only the target))). Probe features:
Z(full), before the head.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

import torch
from torch import Tensor

from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, default_generator, register
from robustlab.methods.common import check_bool, check_float, check_int
from robustlab.methods.fusion import (
    FusionMethod,
    augment,
    mean_terms,
    nt_xent_rows,
)
from robustlab.search_space import Distribution, FloatRange


@dataclass(frozen=True)
class CommOptions:
    """fusion_dim/heads/layers: the fusion transformer (fusion_dim % fusion_heads == 0);
    num_tokens: tokens per modality; proj_dim: projection-head output; temperature: NT-Xent τ;
    noise_std: Gaussian noise std relative to each feature's batch std; mask_prob: share of
    input entries zeroed; pair_views: also align two-modality views with the full view."""

    fusion_dim: int = 64
    fusion_heads: int = 4
    fusion_layers: int = 1
    num_tokens: int = 4
    proj_dim: int = 64
    temperature: float = 0.1
    noise_std: float = 0.1
    mask_prob: float = 0.1
    pair_views: bool = False

    def __post_init__(self) -> None:
        check_fusion_options(self)
        check_float(self, "noise_std", 0.0, 10.0)
        check_float(self, "mask_prob", 0.0, 1.0, high_open=True)
        check_bool(self, "pair_views")


def check_fusion_options(o: object) -> None:
    """Validation shared with COrAL's options."""
    check_int(o, "fusion_dim", 2)
    check_int(o, "fusion_heads", 1)
    check_int(o, "fusion_layers", 1, 12)
    check_int(o, "num_tokens", 1, 64)
    check_int(o, "proj_dim", 1)
    check_float(o, "temperature", 0.0, 10.0, low_open=True)
    dim, heads = getattr(o, "fusion_dim"), getattr(o, "fusion_heads")  # noqa: B009
    if dim % heads:
        raise ValueError(
            f"{type(o).__name__}.fusion_heads: must divide fusion_dim={dim}, got {heads}"
        )


@register("comm")
class Comm(FusionMethod):
    Options = CommOptions

    def __init__(self, options: CommOptions, dims: Mapping[str, int], encoder: EncoderOptions):
        super().__init__()
        self.options = options
        self.build_shared_path(options, dims, encoder)

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {**COMMON_SEARCH_SPACE, "temperature": FloatRange(0.05, 0.5, log=True)}

    def views(self, mask: Mapping[str, Tensor]) -> dict[str, dict[str, Tensor]]:
        """view name -> which modalities it keeps (per-row presence masks)."""
        sizes = (1, 2) if self.options.pair_views else (1,)
        views = {
            "view_" + "_".join(ms): {m: mask[m] for m in ms}
            for k in sizes for ms in combinations(self.modalities, k)
        }
        views["view_full"] = dict(mask)
        return views

    def augmented_tokens(self, batch: Batch, g: torch.Generator) -> dict[str, Tensor]:
        """The tokens (m -> (B, T, F)) of one augmented view of the batch."""
        o = self.options
        x = {m: augment(v, batch.mask[m], o.noise_std, o.mask_prob, g) for m, v in batch.x.items()}
        return self.fusion.tokenize(x, g)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        g = default_generator(generator)
        t1, t2 = self.augmented_tokens(batch, g), self.augmented_tokens(batch, g)
        full1 = self.head(self.fusion.fuse(t1, batch.mask))  # (B, K)
        full2 = self.head(self.fusion.fuse(t2, batch.mask))
        terms: dict[str, Tensor | None] = {}
        for name, keep in self.views(batch.mask).items():
            rows = torch.stack(list(keep.values())).any(dim=0)  # (B,) some modality present
            z1, z2 = (full1, full2) if name == "view_full" else (
                self.head(self.fusion.fuse(t1, keep)), self.head(self.fusion.fuse(t2, keep)))
            a = nt_xent_rows(z1, full2, self.options.temperature, rows)
            b = nt_xent_rows(z2, full1, self.options.temperature, rows)
            terms[name] = None if a is None or b is None else (a + b) / 2
        total = mean_terms(list(terms.values()), full1)
        return {"loss": total, **{k: v.detach() for k, v in terms.items() if v is not None}}

    def features(self, batch: Batch) -> Tensor:
        return self.full(batch)  # (B, fusion_dim)
