"""The CoMM-style fusion shared by `comm` and `coral` (DESIGN §4).

Each modality -> encoder (the shared backbone options) -> (B, D) -> linear tokenizer ->
`num_tokens` tokens of width F (plus a learned per-modality, per-position embedding so the
transformer can tell modalities apart) -> a small pre-LN transformer over a CLS token and the
kept tokens -> the CLS output Z (B, F).

"Removing" a token means excluding it from attention (key padding), not zeroing it: a view
that lacks a modality — masked by the loss, missing from the batch, or the retrieval target —
is exactly the fusion of the others. The CLS token is never removed, so a row with nothing
kept gets the CLS-only output: for these methods that plays the role of the learned
"missing" embedding.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.data.batch import Batch
from robustlab.methods.base import EncoderOptions, Method, OptionsT, Query, Stacked
from robustlab.methods.nt_xent import nt_xent, nt_xent_terms
from robustlab.methods.stacked import Encoders, StackedLinear, Which, by_modality, pick

__all__ = ["FusionEncoder", "FusionMethod", "nt_xent", "nt_xent_terms"]  # + the re-exports


class Block(nn.Module):
    """Pre-LN self-attention block (multi-head attention + GELU MLP, both residual) that runs
    several *views* of the same tokens at once.

    A view is a key-padding mask: which tokens its queries may attend to. Before the first
    attention nothing depends on the view, so the first block normalises the tokens once for
    all views and only the attention step is per view (the views act as extra query groups
    over the same keys). In the last block only the CLS output is read, so only the CLS
    position is queried and sent through the MLP. Both are exact rewrites of running the
    block once per view on every position."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: Tensor, attend: Tensor, queries: int, cls: Tensor | None = None
                ) -> Tensor:
        """x (*lead, S, F); attend (*lead, G, S) bool, True = a key the queries of group g may
        look at; outputs for the first `queries` positions -> (*lead, G, queries, F).
        `cls` (1, F): position 0 of every row is this same token and only its output is
        wanted (the one-block case), which `cls_attention` turns into matmuls."""
        h = self.ln_1(x)
        if cls is None:
            y = x[..., None, :queries, :] + self.attention(h, attend, queries)
        else:
            y = cls + self.cls_attention(h, attend, self.ln_1(cls))  # (N, G, 1, F)
        return y + self.mlp(self.ln_2(y))

    def attention(self, h: Tensor, attend: Tensor, queries: int) -> Tensor:
        """Multi-head attention of the first `queries` positions over the keys each group
        attends to: h (*lead, S, F) -> (*lead, G, queries, F)."""
        width = h.shape[-1]
        w_q, w_kv = self.qkv.weight.split([width, 2 * width])
        b_q, b_kv = self.qkv.bias.split([width, 2 * width])
        heads, groups = self.heads, attend.shape[-2]
        q = F.linear(h[..., :queries, :], w_q, b_q).unflatten(-1, (heads, -1))  # (.., Sq, H, dh)
        kv = F.linear(h, w_kv, b_kv).unflatten(-1, (2, heads, -1))  # (*lead, S, 2, H, dh)
        k, v = kv.movedim(-3, 0).transpose(-3, -2)  # each (*lead, H, S, dh)
        scores = q.transpose(-3, -2) @ k.transpose(-1, -2) / math.sqrt(k.shape[-1])
        mask = attend[..., None, :, None, :]  # (*lead, 1, G, 1, S)
        scores = torch.where(mask, scores[..., None, :, :], -torch.inf)  # (*lead, H, G, Sq, S)
        weights = torch.softmax(scores, dim=-1).flatten(-3, -2)  # (*lead, H, G·Sq, S)
        out = (weights @ v).unflatten(-2, (groups, queries))  # (*lead, H, G, Sq, dh)
        return self.out(out.movedim(-4, -2).flatten(-2))  # (*lead, G, Sq, F)

    def cls_attention(self, h: Tensor, attend: Tensor, h_cls: Tensor) -> Tensor:
        """The CLS query's attention when that query is one vector for every row: h (N, S, F)
        normalised states, attend (N, G, S), h_cls (1, F) -> (N, G, 1, F).

        Per head, ⟨q, W_k h_s + b_k⟩ = ⟨W_kᵀ q, h_s⟩ + const, and a softmax ignores the
        const: the scores are one (N·S, F) @ (F, H) matmul, with no keys formed. The
        weights sum to 1, so Σ_s w_s (W_v h_s + b_v) = W_v (Σ_s w_s h_s) + b_v: values are
        formed for the G weighted averages only, not for every token."""
        n, length, width = h.shape
        heads, groups = self.heads, attend.shape[1]
        w_q, w_k, w_v = self.qkv.weight.view(3, heads, width // heads, width)  # (H, dh, F)
        b_q, _, b_v = self.qkv.bias.view(3, heads, width // heads)  # (H, dh)
        q = torch.einsum("hdf,f->hd", w_q, h_cls[0]) + b_q  # (H, dh)
        probe = torch.einsum("hd,hdf->fh", q, w_k) / math.sqrt(width // heads)  # (F, H)
        scores = (h.reshape(n * length, width) @ probe).view(n, length, heads)  # (N, S, H)
        scores = scores.permute(1, 0, 2)[:, :, None, :]  # (S, N, 1, H): softmax over dim 0
        # a removed key's score + (−inf) gives the logits masking gives, and the backward
        # of an add is a sum (no second masked pass)
        hidden = torch.zeros(attend.shape, dtype=h.dtype, device=h.device).masked_fill_(
            ~attend, -torch.inf).permute(2, 0, 1)[..., None]  # (S, N, G, 1)
        weights = torch.softmax(scores + hidden, dim=0)  # (S, N, G, H)
        weights = weights.permute(1, 2, 3, 0).reshape(n, groups * heads, length)
        mean = torch.bmm(weights, h).view(n * groups, heads, width)  # (N·G, H, F)
        values = torch.bmm(mean.transpose(0, 1), w_v.transpose(1, 2))  # (H, N·G, dh)
        values = values.transpose(0, 1) + b_v  # (N·G, H, dh)
        return self.out(values.reshape(n, groups, 1, width))  # (N, G, 1, F)


class FusionTransformer(nn.Module):
    """CLS token + `layers` pre-LN blocks + final LayerNorm; returns the CLS output of every
    view of the tokens (the CLS token always attends, so no view is empty)."""

    def __init__(self, width: int, heads: int, layers: int) -> None:
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, width) / math.sqrt(width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: Tensor, keep: Tensor) -> Tensor:
        """tokens (N, L, F); keep (N, L) bool -> (N, F), or keep (N, V, L) for V views of
        the same tokens -> (N, V, F)."""
        single = keep.ndim == 2
        attend = keep[:, None] if single else keep  # (N, V, L)
        n, views = attend.shape[:2]
        x = torch.cat([self.cls.expand(n, -1, -1), tokens], dim=1)  # (N, S = 1 + L, F)
        attend = torch.cat([attend.new_ones(n, views, 1), attend], dim=2)  # (N, V, S)
        if len(self.blocks) == 1:  # the CLS query is the same for every row
            x = self.blocks[0](x, attend, 1, cls=self.cls[0])  # (N, V, 1, F)
        for i, block in enumerate(self.blocks if len(self.blocks) > 1 else []):
            queries = 1 if i == len(self.blocks) - 1 else x.shape[-2]  # last: CLS only
            if i == 0:
                x = block(x, attend, queries)  # (N, V, Sq, F): one token pass for all views
            else:
                x = block(x, attend[:, :, None], queries)[:, :, 0]  # per view: (N, V, Sq, F)
        out: Tensor = self.norm(x[..., 0, :])  # (N, V, F)
        return out[:, 0] if single else out


class Tokenizer(Stacked):
    """Every modality's (B, D) -> (B, T, F): a linear map to T tokens plus a learned (T, F)
    embedding that marks the modality and the token position. Stored stacked
    (`robustlab.methods.stacked`): `linear` (M maps), `position` (M, T, F)."""

    def __init__(self, linears: Sequence[nn.Linear], positions: Sequence[Tensor]) -> None:
        """From each modality's map (D -> T·F) and position embedding (T, F)
        (`tokenizer_parts`)."""
        super().__init__()
        self.linear = StackedLinear(linears)
        self.position = nn.Parameter(torch.stack(list(positions)))  # (M, T, F)
        self.shape = tuple(positions[0].shape)

    def forward(self, h: Tensor, which: Which = None) -> Tensor:
        """(S, B, D) -> (S, B, T, F) for the modalities `which`."""
        return self.tokens(self.linear(h, which), which)

    def tokens(self, projected: Tensor, which: Which = None) -> Tensor:
        """The output of `linear` (S, B, T·F) -> (S, B, T, F) tokens."""
        return projected.view(*projected.shape[:2], *self.shape) + pick(self.position,
                                                                        which)[:, None]

    def one(self, i: int, h: Tensor) -> Tensor:
        """Modality i's alone: (B, D) -> (B, T, F)."""
        return self.linear.one(i, h).view(h.shape[0], *self.shape) + self.position[i]


def tokenizer_parts(dim: int, num_tokens: int, width: int) -> tuple[nn.Linear, Tensor]:
    """One modality's tokenizer map and position embedding, freshly initialised (the map
    first: the draws of a separate tokenizer, in order)."""
    return nn.Linear(dim, num_tokens * width), torch.randn(num_tokens, width) / math.sqrt(width)


class FusionEncoder(nn.Module):
    """Per-modality encoders and tokenizers feeding one fusion transformer."""

    def __init__(
        self, dims: Mapping[str, int], encoder: EncoderOptions, width: int, heads: int,
        layers: int, num_tokens: int,
    ) -> None:
        super().__init__()
        self.names = tuple(dims)
        self.encoders = Encoders(self.names, [encoder.build(d) for d in dims.values()])
        linears, positions = zip(*(tokenizer_parts(encoder.dim, num_tokens, width)
                                   for _ in dims), strict=True)
        self.tokenizers = Tokenizer(linears, positions)
        self.transformer = FusionTransformer(width, heads, layers)
        self.num_tokens = num_tokens

    def tokenize(
        self, x: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """modality -> (B, T, F) tokens, for the modalities in `x` (all in one batched pass
        where their encoders are stacked, `robustlab.methods.stacked`). The encoder's last
        linear map and the tokenizer's are multiplied first where cheaper (`linear_after`)."""
        which, values = by_modality(self.names, x)
        projected = self.encoders.then(self.tokenizers.linear, values, which, generator)
        tokens = self.tokenizers.tokens(projected, which)  # (S, B, T, F)
        return dict(zip(x, tokens.unbind(0), strict=True))

    def fuse(self, tokens: Mapping[str, Tensor], keep: Mapping[str, Tensor]) -> Tensor:
        """Z (B, F) over the modalities in `keep`; keep[m] is (B,) (whole modality) or (B, T)
        (per token) bool, True = attended."""
        names = list(keep)
        parts = [tokens[m] for m in names]
        masks = [self.token_mask(keep[m]) for m in names]
        return self.transformer(torch.cat(parts, dim=1), torch.cat(masks, dim=1))  # (B, F)

    def fuse_views(
        self, tokens: Mapping[str, Tensor], views: Sequence[Mapping[str, Tensor]]
    ) -> Tensor:
        """Z of every view of the same tokens in one pass -> (B, V, F). views[v] maps the
        modalities view v keeps to their (B,) or (B, T) keep masks, as `fuse` takes them; a
        modality a view leaves out is removed from it (its tokens are not attended)."""
        names = list(tokens)
        x = torch.cat([tokens[m] for m in names], dim=1)  # (B, M·T, F)
        none = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        masks = [torch.cat([self.token_mask(view.get(m, none)) for m in names], dim=1)
                 for view in views]  # V × (B, M·T)
        return self.transformer(x, torch.stack(masks, dim=1))  # (B, V, F)

    def token_mask(self, keep: Tensor) -> Tensor:
        """(B,) per-modality or (B, T) per-token keep mask -> (B, T)."""
        return keep if keep.ndim == 2 else keep[:, None].expand(-1, self.num_tokens)


def projection_head(width: int, out_dim: int) -> nn.Module:
    """The MLP projection head the contrastive loss sees (no BatchNorm: scoring one query
    must not depend on the rest of its batch)."""
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, out_dim))


def noise_scale(x: Tensor, present: Tensor, noise_std: float) -> Tensor:
    """The augmentation noise's per-feature std of (..., B, d) features -> (..., 1, d):
    `noise_std` × the feature's std over the batch's `present` (..., B) rows (missing rows
    hold no data and must not set the scale); 0 when no row is present. Both augmented
    copies share it."""
    count = present.sum(dim=-1, keepdim=True).clamp_min(1)[..., None]  # (..., 1, 1)
    weight = present.to(x.dtype)[..., None] / count  # (..., B, 1): mean weights
    data = x.detach()
    mean = (data * weight).sum(dim=-2, keepdim=True)  # (..., 1, d) over the present rows
    spread = (((data - mean) ** 2) * weight).sum(dim=-2, keepdim=True).sqrt()  # (..., 1, d)
    return spread * noise_std


def augment(x: Tensor, scale: Tensor, mask_prob: float, generator: torch.Generator) -> Tensor:
    """One augmented view of (B, d) features: Gaussian noise with per-feature std `scale`
    (1, d) (`noise_scale`), then each entry zeroed with prob `mask_prob`."""
    dev = generator.device
    noise = torch.randn(x.shape, generator=generator, device=dev).to(x.device, x.dtype)
    keep = torch.rand(x.shape, generator=generator, device=dev) >= mask_prob
    return torch.addcmul(x, scale, noise).mul_(keep.to(x.device))


class FusionMethod(Method):
    """Retrieval and per-modality encoding for the fusion methods (CoMM, COrAL): the query is
    Z(context pair, target removed), a candidate is Z(only the target), both through the
    projection head and L2-normalised; score = cosine (DESIGN §4). The head output is used
    because it is what the contrastive loss aligns."""

    fusion: FusionEncoder
    head: nn.Module
    options: Any

    @classmethod
    def for_protocol(cls, options: OptionsT, protocol: str) -> OptionsT:
        """`pair_views: auto` made for `protocol`: on for retrieval (train the views it
        scores), off for the probe (the paper's loss)."""
        options = super().for_protocol(options, protocol)
        if getattr(options, "pair_views", None) != "auto":
            return options
        return cast(OptionsT, dataclasses.replace(
            cast(Any, options), pair_views=protocol == "retrieval"))

    @property
    def pair_views(self) -> bool:
        """Whether the loss trains the views retrieval scores. `auto` left unresolved (a
        method built outside a study, without `for_protocol`) counts as retrieval, the
        protocol `encode_query` and `score` serve."""
        return bool(self.options.pair_views in (True, "auto"))

    def build_shared_path(self, options: Any, dims: Mapping[str, int],
                          encoder: EncoderOptions) -> None:
        """The fusion transformer and projection head both methods share (same options)."""
        self.modalities = tuple(dims)
        self.fusion = FusionEncoder(dims, encoder, options.fusion_dim, options.fusion_heads,
                                    options.fusion_layers, options.num_tokens)
        self.head = projection_head(options.fusion_dim, options.proj_dim)

    def noise_scales(self, batch: Batch) -> dict[str, Tensor]:
        """m -> the augmentation noise's per-feature std (1, d_m) for this batch: every
        modality in one pass when their widths agree."""
        names, std = list(batch.x), self.options.noise_std
        if len({v.shape for v in batch.x.values()}) == 1:
            scales = noise_scale(torch.stack([batch.x[m] for m in names]),
                                 torch.stack([batch.mask[m] for m in names]), std)
            return dict(zip(names, scales.unbind(0), strict=True))
        return {m: noise_scale(batch.x[m], batch.mask[m], std) for m in names}

    def augmented_inputs(self, batch: Batch, g: torch.Generator,
                         scales: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """One augmented copy of the batch's inputs (m -> (B, d_m)), drawn from `g`; `scales`
        (`noise_scales` of the batch) are computed when not given."""
        scales = self.noise_scales(batch) if scales is None else scales
        return {m: augment(v, scales[m], self.options.mask_prob, g)
                for m, v in batch.x.items()}

    def project(self, z: Tensor) -> Tensor:
        return F.normalize(self.head(z), dim=-1, eps=1e-8)  # (B, K)

    def encode(self, modality: str, x: Tensor, mask: Tensor | None = None) -> Tensor:
        keep = mask if mask is not None else torch.ones(x.shape[0], dtype=torch.bool,
                                                        device=x.device)
        tokens = self.fusion.tokenize({modality: x})
        return self.project(self.fusion.fuse(tokens, {modality: keep}))

    def encode_query(self, batch: Batch, target: str) -> Query:
        context = self.context_of(target)
        tokens = self.fusion.tokenize({m: batch.x[m] for m in context})
        return {"z": self.project(self.fusion.fuse(tokens, {m: batch.mask[m] for m in context}))}

    def encode_candidates(self, target: str, x: Tensor, mask: Tensor | None = None) -> Tensor:
        self.context_of(target)
        return self.encode(target, x, mask)  # (C, K)

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        return query["z"] @ candidates.T  # (B, C) cosines

    def full(self, batch: Batch) -> Tensor:
        """Z(all present modalities) (B, F), before the head."""
        return self.fusion.fuse(self.fusion.tokenize(batch.x), batch.mask)
