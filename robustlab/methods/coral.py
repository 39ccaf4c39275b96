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

**Pair views (our extension; the paper is silent).** Retrieval scores cos(Z(context pair),
Z(target alone)) on the shared path, and the published loss forms neither view: its shared
views always hold every modality (one of them partly masked). With `pair_views` the shared
path also trains them as CoMM does: each one- and two-modality view of a copy (whole
modalities, no token masking, as retrieval forms them) is aligned by NT-Xent with the other
copy's full shared view, ½[ℓ(Z'_v, Z''_full) + ℓ(Z''_v, Z'_full)], and the mean of these six
terms is added to the loss (weighing as much as the shared term). The single-modality views
come with the pairs because retrieval's candidate, Z(target alone), is one of them (CoMM's
paper loss has them already). `auto` (the default) turns them on for the retrieval protocol
and leaves the published loss for the linear probe (`for_protocol`); `true` / `false` force
them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.data.batch import Batch
from robustlab.methods.base import (
    COMMON_SEARCH_SPACE,
    EncoderOptions,
    Stacked,
    default_generator,
    register,
)
from robustlab.methods.comm import check_fusion_options, mean_of_valid, valid_terms
from robustlab.methods.common import ModalityEncoders, check_choice, check_float
from robustlab.methods.fusion import (
    FusionMethod,
    Tokenizer,
    nt_xent_terms,
    projection_head,
    tokenizer_parts,
)
from robustlab.methods.stacked import StackedTwoLayer
from robustlab.search_space import Distribution, FloatRange


@dataclass(frozen=True)
class CoralOptions:
    """fusion_* / num_tokens / proj_dim / temperature: as CoMM; mask_ratio: share of the masked
    modality's tokens removed in a view; ortho_weight: w_o (weight of the summed cos²
    penalty, as the published loss); noise_std, mask_prob: the input
    augmentations (as CoMM); pair_views: also train the one- and two-modality shared views
    retrieval scores (true / false, or auto: on for the retrieval protocol, off for the
    probe)."""

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
    pair_views: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        check_fusion_options(self)
        check_float(self, "mask_ratio", 0.0, 1.0)
        check_float(self, "ortho_weight", 0.0, 1e4)
        check_float(self, "noise_std", 0.0, 10.0)
        check_float(self, "mask_prob", 0.0, 1.0, high_open=True)
        check_choice(self, "pair_views", ("auto", True, False))


class View(NamedTuple):
    """One drawn view: augmented inputs (m -> (B, d_m)) and fusion keep masks (m -> (B,)
    or (B, T) for the asymmetrically masked modality)."""

    inputs: dict[str, Tensor]
    keep: dict[str, Tensor]


class UniquePaths(Stacked):
    """Every modality's unique path after its encoder: (B, D) -> tokens (`Tokenizer`) ->
    token MLP -> attention pooling softmax(tokens · q_m) over the tokens, q_m a learned
    query -> u_m (B, U). Stored stacked (`robustlab.methods.stacked`): `query` (M, U)."""

    def __init__(self, dim: int, num_tokens: int, width: int, count: int) -> None:
        super().__init__()
        unique = max(1, width // 2)
        linears, positions, mlps, queries = [], [], [], []
        for _ in range(count):  # the draws of M separate paths, in order
            linear, position = tokenizer_parts(dim, num_tokens, width)
            linears.append(linear)
            positions.append(position)
            mlps.append(nn.Sequential(nn.Linear(width, width), nn.GELU(),
                                      nn.Linear(width, unique)))
            queries.append(torch.randn(unique) / unique**0.5)
        self.tokenizer = Tokenizer(linears, positions)
        self.token_mlp = StackedTwoLayer(mlps)
        self.query = nn.Parameter(torch.stack(queries))  # (M, U)

    def pooled(self, tokens: Tensor) -> Tensor:
        """Every modality's (M, B, T, F) tokens -> (M, B, U)."""
        m, b, t = tokens.shape[:3]
        h = self.token_mlp(tokens.flatten(1, 2))  # (M, B·T, U)
        weights = torch.softmax(torch.bmm(h, self.query[:, :, None]).view(m, b, t), dim=2)
        # Σ_t weight · token as a product and a sum: as a (M·B, 1, T) @ (M·B, T, U) matmul
        # its backward is an outer-product bmm, several times slower at these sizes
        return (weights[..., None] * h.view(m, b, t, -1)).sum(dim=2)  # (M, B, U)

    def one(self, i: int, h: Tensor) -> Tensor:
        """Modality i's path alone on its (B, D) encoder output -> (B, U)."""
        h = self.token_mlp.one(i, self.tokenizer.one(i, h))  # (B, T, U)
        weights = torch.softmax(h @ self.query[i], dim=1)  # (B, T)
        return (weights[..., None] * h).sum(dim=1)


@register("coral")
class Coral(FusionMethod):
    Options = CoralOptions

    def __init__(self, options: CoralOptions, dims: Mapping[str, int], encoder: EncoderOptions):
        super().__init__()
        self.options = options
        self.build_shared_path(options, dims, encoder)
        o = options
        self.unique_encoders = ModalityEncoders(dims, encoder.build, encoder.dim)
        self.unique = UniquePaths(encoder.dim, o.num_tokens, o.fusion_dim, len(dims))
        self.unique_heads = StackedTwoLayer(
            [cast(nn.Sequential, projection_head(max(1, o.fusion_dim // 2), o.proj_dim))
             for _ in dims])

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
        return dict(zip(self.modalities, self.unique_embeddings(x, mask, generator).unbind(0),
                        strict=True))

    def unique_embeddings(
        self, x: Mapping[str, Tensor], mask: Mapping[str, Tensor],
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """u_m of every modality (M, B, U), before the unique heads. The tokenizer is affine
        per row, so tokenizing the encoder output or the missing embedding row by row equals
        tokenizing their per-row choice; the encoder and tokenizer maps are multiplied first
        where cheaper (`linear_after`). Every modality in one batched pass where the encoders
        are stacked (`robustlab.methods.stacked`)."""
        names, embed, tokenizer = self.modalities, self.unique_encoders, self.unique.tokenizer
        which = range(len(names))
        tokens = tokenizer.tokens(embed.encoders.then(tokenizer.linear, [x[m] for m in names],
                                                      which, generator))  # (M, B, T, F)
        missing = tokenizer(embed.missing[:, None].to(tokens.dtype))  # (M, 1, T, F)
        present = torch.stack([mask[m] for m in names])[:, :, None, None]  # (M, B, 1, 1)
        return self.unique.pooled(torch.where(present, tokens, missing))

    def masked_keep(self, batch: Batch, modality: str, g: torch.Generator) -> dict[str, Tensor]:
        """Per-token keep masks of one view: `modality` loses each token w.p. mask_ratio."""
        keep: dict[str, Tensor] = dict(batch.mask)
        shape = (batch.size, self.options.num_tokens)
        drawn = torch.rand(shape, generator=g, device=g.device).to(batch.mask[modality].device)
        keep[modality] = (drawn >= self.options.mask_ratio) & batch.mask[modality][:, None]
        return keep  # modality -> (B,) or (B, T)

    def draw_views(self, batch: Batch, g: torch.Generator) -> list[View]:
        """The randomness of a step, drawn before any encoding: the masked pair, then per
        view its augmented inputs and its token keep masks."""
        first, second = masked_pair(len(self.modalities), g)
        scales = self.noise_scales(batch)  # the same for both views
        return [View(self.augmented_inputs(batch, g, scales), self.masked_keep(batch, masked, g))
                for masked in (self.modalities[first], self.modalities[second])]

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        g = default_generator(generator)
        return self.loss_of_views(self.draw_views(batch, g), batch.mask, g)

    def loss_of_views(self, views: Sequence[View], mask: Mapping[str, Tensor],
                      g: torch.Generator | None = None) -> dict[str, Tensor]:
        """The loss given the two drawn views: both views through each path together (the
        encoders, the fusion transformer with every shared view, the heads), every NT-Xent
        term of a kind in one call."""
        o, b = self.options, next(iter(mask.values())).shape[0]
        x = {m: torch.cat([v.inputs[m] for v in views]) for m in self.modalities}  # (2B, d)
        keep = {m: torch.cat([self.fusion.token_mask(v.keep[m]) for v in views])
                for m in self.modalities}  # (2B, T)
        both = {m: torch.cat([mask[m], mask[m]]) for m in self.modalities}  # (2B,)
        shown = self.shared_views()
        fused = self.fusion.fuse_views(self.fusion.tokenize(x, g), [
            keep if name == "view_full" else {m: both[m] for m in ms}
            for name, ms in shown.items()])  # (2B, V, F): the full view first
        z_views = self.head(fused)  # (2B, V, K)
        uniques = self.unique_heads(self.unique_embeddings(x, both, g))  # (M, 2B, K)
        z = torch.cat([z_views[:, 0][None], uniques])  # (1 + M, 2B, K): s, u_a, u_b, ...
        present = torch.stack([torch.stack(list(mask.values())).any(dim=0),
                               *mask.values()])  # (1 + M, B)
        ell = nt_xent_terms(z[:, :b], z[:, b:], o.temperature, present)  # (1 + M,)
        names = ["shared", *(f"unique_{m}" for m in self.modalities)]
        valid, terms = valid_terms(ell, present, names)
        ortho = orthogonality(z.unflatten(1, (2, b)), present)
        total = o.ortho_weight * ortho + (ell * valid).sum()
        if len(shown) > 1:  # + the mean of the retrieval views' terms
            retrieval = self.view_terms(z_views, list(shown.values())[1:], list(shown)[1:], mask)
            total = total + retrieval.pop("loss")
            terms.update(retrieval)
        return {"loss": total, **terms, "ortho": ortho.detach()}  # ortho: unweighted

    def shared_views(self) -> dict[str, tuple[str, ...]]:
        """The shared path's views, name -> the modalities kept: the full view first, then,
        with pair views, the ones retrieval scores (each modality alone, each pair)."""
        views = {"view_full": self.modalities}
        if self.pair_views:
            views.update({"view_" + "_".join(ms): ms
                          for k in (1, 2) for ms in combinations(self.modalities, k)})
        return views

    def view_terms(self, z: Tensor, kept: Sequence[tuple[str, ...]], names: Sequence[str],
                   mask: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """½[ℓ(Z'_v, Z''_full) + ℓ(Z''_v, Z'_full)] for every retrieval view v, as CoMM:
        z (2B, V, K) with the full view at index 0 and the views `kept` after it; a row
        joins view v's term when v holds one of its modalities."""
        b, tau = z.shape[0] // 2, self.options.temperature
        first, second = z[:b].transpose(0, 1), z[b:].transpose(0, 1)  # (V, B, K) per copy
        present = torch.stack([torch.stack([mask[m] for m in ms]).any(dim=0)
                               for ms in kept])  # (V - 1, B)
        ell_1 = nt_xent_terms(first[1:], second[:1], tau, present)  # (V - 1,)
        ell_2 = nt_xent_terms(second[1:], first[:1], tau, present)  # (V - 1,)
        return mean_of_valid((ell_1 + ell_2) / 2, present, list(names))

    def features(self, batch: Batch) -> Tensor:
        parts = [self.full(batch), *self.uniques(batch.x, batch.mask).values()]
        return torch.cat(parts, dim=1)  # (B, F + M·U)


def masked_pair(num_modalities: int, generator: torch.Generator) -> tuple[int, int]:
    """The (view 1, view 2) masked modalities of one batch: an ordered pair of different
    modalities, uniform over the M(M-1) pairs (our extension of the bimodal (0, 1))."""
    pick = torch.randperm(num_modalities, generator=generator, device=generator.device)
    return int(pick[0]), int(pick[1])


def orthogonality(z: Tensor, present: Tensor) -> Tensor:
    """Sum over views and over every pair of embeddings of the mean cos² across the rows
    where both are present (pairs with no such row contribute 0). z (E, views, B, K);
    present (E, B). A row's cosines of every pair are its E × E Gram matrix of unit
    embeddings (the pairs i < j read from it): one batched matmul for all pairs, where the
    pair-by-pair form costs a dozen ops per pair."""
    e, v, b, _ = z.shape
    unit = F.normalize(z, dim=-1, eps=1e-8).permute(1, 2, 0, 3).reshape(v * b, e, -1)
    cos2 = torch.bmm(unit, unit.transpose(1, 2)).square().view(v, b, e, e)  # (V, B, E, E)
    both = (present.T[:, :, None] & present.T[:, None, :]).to(z.dtype)  # (B, E, E)
    total = (cos2 * both).sum(dim=(0, 1))  # (E, E): over views and rows
    upper = torch.ones(e, e, dtype=z.dtype, device=z.device).triu(1)  # the pairs i < j
    return (total / both.sum(dim=0).clamp_min(1.0) * upper).sum()
