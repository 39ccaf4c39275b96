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

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.data.batch import Batch
from robustlab.methods.base import EncoderOptions, Method, Query


class Block(nn.Module):
    """Pre-LN self-attention block (multi-head attention + GELU MLP, both residual).

    Attention is written on `scaled_dot_product_attention` rather than nn.MultiheadAttention,
    whose key-padding check imports sympy on first use (seconds of start-up per process)."""

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

    def attention(self, x: Tensor, attend: Tensor) -> Tensor:
        """x (B, L, F); attend (B, L) bool, True = a key every query may look at."""
        b, length, width = x.shape
        qkv = self.qkv(x).view(b, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, L, F/H)
        mask = attend[:, None, None, :]  # (B, 1, 1, L), broadcast over heads and queries
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, L, F/H)
        return self.out(h.transpose(1, 2).reshape(b, length, width))  # (B, L, F)

    def forward(self, x: Tensor, attend: Tensor) -> Tensor:
        x = x + self.attention(self.ln_1(x), attend)
        return x + self.mlp(self.ln_2(x))


class FusionTransformer(nn.Module):
    """CLS token + `layers` pre-LN blocks + final LayerNorm; returns the CLS output."""

    def __init__(self, width: int, heads: int, layers: int) -> None:
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, width) / math.sqrt(width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: Tensor, keep: Tensor) -> Tensor:
        """tokens (B, L, F), keep (B, L) bool -> (B, F)."""
        b = tokens.shape[0]
        x = torch.cat([self.cls.expand(b, -1, -1), tokens], dim=1)  # (B, 1 + L, F)
        attend = torch.cat([keep.new_ones(b, 1), keep], dim=1)  # (B, 1 + L); CLS always kept
        for block in self.blocks:
            x = block(x, attend)
        out: Tensor = self.norm(x[:, 0])  # (B, F)
        return out


class Tokenizer(nn.Module):
    """(B, D) -> (B, T, F): a linear map to T tokens plus a learned (T, F) embedding that
    marks the modality and the token position."""

    def __init__(self, dim: int, num_tokens: int, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, num_tokens * width)
        self.position = nn.Parameter(torch.randn(num_tokens, width) / math.sqrt(width))
        self.shape = (num_tokens, width)

    def forward(self, h: Tensor) -> Tensor:
        return self.linear(h).view(h.shape[0], *self.shape) + self.position  # (B, T, F)


class FusionEncoder(nn.Module):
    """Per-modality encoders and tokenizers feeding one fusion transformer."""

    def __init__(
        self, dims: Mapping[str, int], encoder: EncoderOptions, width: int, heads: int,
        layers: int, num_tokens: int,
    ) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict({m: encoder.build(d) for m, d in dims.items()})
        self.tokenizers = nn.ModuleDict(
            {m: Tokenizer(encoder.dim, num_tokens, width) for m in dims}
        )
        self.transformer = FusionTransformer(width, heads, layers)
        self.num_tokens = num_tokens

    def tokenize(
        self, x: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """modality -> (B, T, F) tokens, for the modalities in `x`."""
        return {
            m: self.tokenizers[m](self.encoders[m](v, generator=generator)) for m, v in x.items()
        }  # m -> (B, T, F)

    def fuse(self, tokens: Mapping[str, Tensor], keep: Mapping[str, Tensor]) -> Tensor:
        """Z (B, F) over the modalities in `keep`; keep[m] is (B,) (whole modality) or (B, T)
        (per token) bool, True = attended."""
        names = list(keep)
        parts = [tokens[m] for m in names]
        masks = [keep[m] if keep[m].ndim == 2 else keep[m][:, None].expand(-1, self.num_tokens)
                 for m in names]
        return self.transformer(torch.cat(parts, dim=1), torch.cat(masks, dim=1))  # (B, F)


def projection_head(width: int, out_dim: int) -> nn.Module:
    """The MLP projection head the contrastive loss sees (no BatchNorm: scoring one query
    must not depend on the rest of its batch)."""
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, out_dim))


def augment(
    x: Tensor, present: Tensor, noise_std: float, mask_prob: float, generator: torch.Generator
) -> Tensor:
    """One augmented view of (B, d) features: Gaussian noise with per-feature std
    `noise_std` × (the feature's std over the batch's `present` rows — missing rows hold no
    data and must not set the scale), then each entry zeroed with prob `mask_prob`."""
    dev = generator.device
    rows = x.detach()[present]  # (P, d)
    spread = rows.std(dim=0, unbiased=False, keepdim=True) if len(rows) else x.new_zeros(1, 1)
    scale = spread * noise_std  # (1, d)
    noise = torch.randn(x.shape, generator=generator, device=dev).to(x.device, x.dtype)
    keep = torch.rand(x.shape, generator=generator, device=dev) >= mask_prob
    return (x + scale * noise) * keep.to(x.device, x.dtype)


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """SimCLR's NT-Xent between two views (N, K): each row's positive is the same row of the
    other view; negatives are every other row of both views. Mean over the 2N anchors."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1, eps=1e-8)  # (2N, K)
    sim = z @ z.T / temperature  # (2N, 2N)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)  # (2N,)
    return F.cross_entropy(sim, positive)


def nt_xent_rows(z1: Tensor, z2: Tensor, temperature: float, rows: Tensor) -> Tensor | None:
    """NT-Xent on the rows where `rows` (N,) is True; None when fewer than 2 such rows (a
    contrast needs a negative)."""
    if int(rows.sum()) < 2:
        return None
    return nt_xent(z1[rows], z2[rows], temperature)


def mean_terms(terms: list[Tensor | None], like: Tensor) -> Tensor:
    """Mean of the defined terms; a zero that still depends on `like` when none is defined."""
    kept = [t for t in terms if t is not None]
    return torch.stack(kept).mean() if kept else like.sum() * 0.0


class FusionMethod(Method):
    """Retrieval and per-modality encoding for the fusion methods (CoMM, COrAL): the query is
    Z(context pair, target removed), a candidate is Z(only the target), both through the
    projection head and L2-normalised; score = cosine (DESIGN §4). The head output is used
    because it is what the contrastive loss aligns."""

    fusion: FusionEncoder
    head: nn.Module

    def build_shared_path(self, options: Any, dims: Mapping[str, int],
                          encoder: EncoderOptions) -> None:
        """The fusion transformer and projection head both methods share (same options)."""
        self.modalities = tuple(dims)
        self.fusion = FusionEncoder(dims, encoder, options.fusion_dim, options.fusion_heads,
                                    options.fusion_layers, options.num_tokens)
        self.head = projection_head(options.fusion_dim, options.proj_dim)

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
