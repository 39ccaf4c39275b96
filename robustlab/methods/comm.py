"""CoMM — "What to align in multimodal contrastive learning?" (Dufumier et al., ICLR 2025).

Tokens per modality -> one fusion transformer -> Z (see `robustlab.methods.fusion`). Training
draws two augmented views (Gaussian noise, random feature masking) of the batch and, for
every view m in {each single modality, full}, averages ½[ℓ(Z'_m, Z''_full) + ℓ(Z''_m, Z'_full)]
with ℓ = NT-Xent at temperature τ, after the projection head (as the published loss does,
the full view is contrasted with itself too).

Rows where view m has no modality present (a missing modality) are left out of that view's
term: their Z is the CLS-only output, which carries no example information.

`pair_views` (our extension; the paper is silent, its loss has single-modality views only)
adds the three two-modality views to the average, each aligned with the other copy's full
view like the single ones. Retrieval scores cos(Z(context pair), Z(target alone)); without
pair views the query Z(context pair) is a view the loss never forms. `auto` (the default)
turns them on when the method is trained for the retrieval protocol and leaves the paper's
loss for the linear probe (`for_protocol`; a study records the resolved value); `true` /
`false` force them (`false` for retrieval is the paper-loss ablation).

Retrieval: cos(head(Z(context, target removed)), head(Z(only the target))). Probe features:
Z(full), before the head.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import torch
from torch import Tensor

from robustlab.data.batch import Batch
from robustlab.methods.base import COMMON_SEARCH_SPACE, EncoderOptions, default_generator, register
from robustlab.methods.common import check_choice, check_float, check_int
from robustlab.methods.fusion import FusionMethod, nt_xent_terms
from robustlab.search_space import Distribution, FloatRange


@dataclass(frozen=True)
class CommOptions:
    """fusion_dim/heads/layers: the fusion transformer (fusion_dim % fusion_heads == 0);
    num_tokens: tokens per modality; proj_dim: projection-head output; temperature: NT-Xent τ;
    noise_std: Gaussian noise std relative to each feature's batch std; mask_prob: share of
    input entries zeroed; pair_views: also align two-modality views with the full view
    (true / false, or auto: on for the retrieval protocol, off for the probe)."""

    fusion_dim: int = 64
    fusion_heads: int = 4
    fusion_layers: int = 1
    num_tokens: int = 4
    proj_dim: int = 64
    temperature: float = 0.1
    noise_std: float = 0.1
    mask_prob: float = 0.1
    pair_views: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        check_fusion_options(self)
        check_float(self, "noise_std", 0.0, 10.0)
        check_float(self, "mask_prob", 0.0, 1.0, high_open=True)
        check_choice(self, "pair_views", ("auto", True, False))


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

    def views(self) -> dict[str, tuple[str, ...]]:
        """view name -> the modalities it keeps; the full view last."""
        sizes = (1, 2) if self.pair_views else (1,)
        views = {"view_" + "_".join(ms): ms
                 for k in sizes for ms in combinations(self.modalities, k)}
        views["view_full"] = self.modalities
        return views

    def augmented_tokens(self, batch: Batch, g: torch.Generator) -> dict[str, Tensor]:
        """The tokens (m -> (B, T, F)) of one augmented copy of the batch."""
        return self.fusion.tokenize(self.augmented_inputs(batch, g), g)

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        g = default_generator(generator)
        scales = self.noise_scales(batch)  # the same for both copies
        x1, x2 = (self.augmented_inputs(batch, g, scales) for _ in range(2))
        return self.loss_of_copies(x1, x2, batch.mask, g)

    def loss_of_copies(
        self, x1: Mapping[str, Tensor], x2: Mapping[str, Tensor], mask: Mapping[str, Tensor],
        g: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """The loss given two drawn augmented copies (m -> (B, d_m)) of a batch: both copies
        through the encoders together, every view of both through the fusion transformer
        and the head in one pass, every NT-Xent term in one batched call."""
        tokens = self.fusion.tokenize({m: torch.cat([x1[m], x2[m]]) for m in x1}, g)
        both = {m: torch.cat([v, v]) for m, v in mask.items()}  # (2B,): copy 1 rows first
        views = self.views()
        z = self.head(self.fusion.fuse_views(
            tokens, [{m: both[m] for m in ms} for ms in views.values()]))  # (2B, V, K)
        b, v = z.shape[0] // 2, z.shape[1] - 1  # v: the full view's index
        present = torch.stack([torch.stack([mask[m] for m in ms]).any(dim=0)
                               for ms in views.values()])  # (V, B) the view holds something
        first, second = z[:b].transpose(0, 1), z[b:].transpose(0, 1)  # (V, B, K) per copy
        # ℓ(Z'_m, Z''_full) for every view m (the full one included) and ℓ(Z''_m, Z'_full)
        # for the others: for m = full the two are the same loss (NT-Xent is symmetric in
        # its views). Each call contrasts its anchors with one shared partner view.
        tau = self.options.temperature
        ell_1 = nt_xent_terms(first, second[v:], tau, present)  # (V,)
        ell_2 = nt_xent_terms(second[:v], first[v:], tau, present[:v])  # (V - 1,)
        per_view = torch.cat([(ell_1[:v] + ell_2) / 2, ell_1[v:]])  # (V,)
        return mean_of_valid(per_view, present, list(views))

    def features(self, batch: Batch) -> Tensor:
        return self.full(batch)  # (B, fusion_dim)


def mean_of_valid(terms: Tensor, present: Tensor, names: list[str]) -> dict[str, Tensor]:
    """A loss dict from T per-view terms (T,): "loss" = their mean over the views with at
    least 2 rows present (`present` (T, B); 0 when none has), plus each such term detached,
    for logging (`valid_terms`)."""
    valid, logged = valid_terms(terms, present, names)
    return {"loss": (terms * valid).sum() / valid.sum().clamp_min(1), **logged}


def valid_terms(terms: Tensor, present: Tensor, names: list[str]
                ) -> tuple[Tensor, dict[str, Tensor]]:
    """Which of T terms (T,) count — a contrast needs 2 rows of `present` (T, B) — as a
    (T,) bool mask, and those terms detached by name. Vector ops: the total is formed from
    the mask, with no graph node per term."""
    valid = present.sum(dim=1) >= 2  # (T,)
    logged = terms.detach()
    return valid, {name: logged[i] for i, (name, ok) in
                   enumerate(zip(names, valid.tolist(), strict=True)) if ok}
