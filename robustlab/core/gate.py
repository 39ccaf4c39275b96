"""The Gated Symile gate (DESIGN §4; reference: TillmannRheude/gated_symile).

Per target t and context modality m ≠ t, for a candidate c of the target (the gate is
per candidate, e_t := c):
    q_t = normalize(Q_t c)            k_m = normalize(K_m e_m)          (bias-free, to key_dim)
    τ = softplus(log_temp) + 0.1      null_t = (null_head(c) + null_bias_t) / τ
    w_{t,m} = σ(⟨q_t, k_m⟩ / τ) · (1 − σ(null_t))                         (sigmoid gate)
    α = σ(strength)                   g_m = normalize(e_m + α (1 − w_{t,m}) (n_m − e_m))
    score(c | context) = ⟨c, ⊙_{m≠t} g_m⟩ · D^((M−1)/2)
The candidate itself is never gated. Choices where DESIGN is silent (all follow the reference
unless said otherwise):
- one null_head (LayerNorm → Linear → ReLU → Linear) shared by all targets, a bias per target;
  it reads normalize(c) (our choice) so keep weights are exactly invariant to rescaling c;
- softmax variant: softmax over [⟨q_t, k_m⟩/τ for m ≠ t, null_t]; the NULL entry's mass is
  p_null, so keep weights + p_null = 1 (without NULL: softmax over the contexts only);
- matrix mode: candidate-independent logits W[t, m] (not divided by τ) and null_t = null_bias_t/τ;
- neutral: learned = trainable, renormalised to unit norm in use; frozen = fixed random unit
  vector; ones = 1/√D; none = attenuate only (see gate_scoring.py);
- hard_missing (our extension): w_{t,m} = 0 where context_mask[m] is False (softmax variant:
  the modality also leaves the softmax, so the other weights ignore its embedding); without
  hard_missing the mask is ignored (missing modalities enter through the method's learned
  embedding);
- parameters are drawn from a torch.Generator seeded by `seed`, never the global RNG, and
  exist only where they are used (no NULL head or bias without `use_null`; no τ in the
  matrix mode without NULL), so an ablation's parameter count is what it trains;
- the gate computes in float32 (float64 inputs stay float64) with autocast disabled.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core._checks import check_candidates, check_embeddings
from robustlab.core.gate_scoring import direct_scores, fast_scores, gated_embeddings, prepare_fast

Neutral = Literal["learned", "frozen", "ones", "none"]
GateType = Literal["sigmoid", "softmax"]
Mode = Literal["attention", "matrix"]


@dataclass(frozen=True)
class KeepWeights:
    """w[b, c, j]: keep weight of the j-th context modality (modality order) for query b and
    candidate c; p_null[b, c]: the NULL mass (zeros without NULL)."""

    w: Tensor       # (B, C, M-1)
    p_null: Tensor  # (B, C)


def _choice(name: str, value: object, valid: tuple[object, ...]) -> None:
    if value not in valid:
        raise ValueError(f"ModalityGate.{name}: must be one of {list(valid)}, got {value!r}")


def _uniform(shape: tuple[int, ...], fan_in: int, gen: torch.Generator) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default range, drawn from our generator
    return nn.Parameter((torch.rand(shape, generator=gen) * 2 - 1) * bound)


class ModalityGate(nn.Module):
    """Per-candidate modality gate of Gated Symile with its ablation switches."""

    def __init__(self, num_modalities: int, dim: int, *, key_dim: int = 64,
                 neutral: Neutral = "learned", use_null: bool = True,
                 gate_type: GateType = "sigmoid", mode: Mode = "attention",
                 hard_missing: bool = False, temperature_init: float = 1.0,
                 strength_init: float = -6.0, eps: float = 1e-6, seed: int = 0) -> None:
        super().__init__()
        self._validate(num_modalities, dim, key_dim, temperature_init, strength_init, eps)
        _choice("neutral", neutral, ("learned", "frozen", "ones", "none"))
        _choice("gate_type", gate_type, ("sigmoid", "softmax"))
        _choice("mode", mode, ("attention", "matrix"))
        _choice("use_null", use_null, (True, False))
        _choice("hard_missing", hard_missing, (True, False))
        self.num_modalities, self.dim, self.key_dim = num_modalities, dim, key_dim
        self.neutral, self.use_null, self.gate_type = neutral, use_null, gate_type
        self.mode, self.hard_missing, self.eps = mode, hard_missing, eps
        gen = torch.Generator().manual_seed(seed)
        m = num_modalities
        self.strength = nn.Parameter(torch.tensor(float(strength_init)))
        # A parameter exists only where it is used: an ablation must neither count nor
        # optimise weights that never receive a gradient. τ divides the attention logits
        # and the NULL logit; the matrix mode without NULL has neither.
        if mode == "attention" or use_null:
            self.log_temp = nn.Parameter(torch.tensor(math.log(temperature_init)))
        if use_null:
            self.null_bias = nn.Parameter(torch.zeros(m))
        if mode == "attention":
            self.query = _uniform((m, key_dim, dim), dim, gen)  # Q_t, one per target
            self.key = _uniform((m, key_dim, dim), dim, gen)  # K_m, one per modality
        if mode == "attention" and use_null:
            self.null_norm_weight = nn.Parameter(torch.ones(dim))
            self.null_norm_bias = nn.Parameter(torch.zeros(dim))
            self.null_w1, self.null_b1 = _uniform((key_dim, dim), dim, gen), _uniform(
                (key_dim,), dim, gen)
            self.null_w2, self.null_b2 = _uniform((1, key_dim), key_dim, gen), _uniform(
                (1,), key_dim, gen)
        if mode == "matrix":  # logit 0: sigmoid keeps half, softmax starts uniform
            self.matrix_logits = nn.Parameter(torch.zeros(m, m))
        self._init_neutral(neutral, gen)

    @staticmethod
    def _validate(num_modalities: int, dim: int, key_dim: int, temperature_init: float,
                  strength_init: float, eps: float) -> None:
        for name, value in (("num_modalities", num_modalities), ("dim", dim),
                            ("key_dim", key_dim)):
            if not isinstance(value, int) or value < (2 if name == "num_modalities" else 1):
                low = 2 if name == "num_modalities" else 1
                raise ValueError(f"ModalityGate.{name}: must be an int >= {low}, got {value!r}")
        if not temperature_init > 0:
            raise ValueError(f"ModalityGate.temperature_init: must be > 0, got {temperature_init}")
        if not math.isfinite(strength_init):
            raise ValueError(f"ModalityGate.strength_init: must be finite, got {strength_init}")
        if not 0 < eps < 1:
            raise ValueError(f"ModalityGate.eps: must be in (0, 1), got {eps}")

    def _init_neutral(self, neutral: Neutral, gen: torch.Generator) -> None:
        shape = (self.num_modalities, self.dim)
        if neutral == "learned":
            self.neutral_raw = nn.Parameter(F.normalize(torch.randn(shape, generator=gen), dim=1))
        elif neutral == "frozen":
            self.register_buffer("neutral_raw", F.normalize(torch.randn(shape, generator=gen),
                                                            dim=1))
        elif neutral == "ones":
            self.register_buffer("neutral_raw", torch.full(shape, 1 / math.sqrt(self.dim)))

    # ------------------------------------------------------------------ parameters
    def gate_parameters(self) -> Iterator[nn.Parameter]:
        """All trainable gate parameters (give them their own lr and no weight decay)."""
        return (p for p in self.parameters() if p.requires_grad)

    def temperature(self, dtype: torch.dtype = torch.float32) -> Tensor:
        return F.softplus(self.log_temp.to(dtype)) + 0.1

    def alpha(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """Global gate strength α = σ(strength)."""
        return torch.sigmoid(self.strength.to(dtype))

    def neutral_directions(self, dtype: torch.dtype = torch.float32) -> Tensor | None:
        """(M, D) unit-norm neutral directions n_m, or None for neutral="none"."""
        if self.neutral == "none":
            return None
        # renormalised in the compute dtype: learned ones drift, and a float32 unit vector is
        # not unit-norm in float64
        return F.normalize(self.neutral_raw.to(dtype), dim=1, eps=self.eps)

    # ------------------------------------------------------------------ keep weights
    def _null_logits(self, target: int, cand: Tensor) -> Tensor:
        """null_t for candidates (..., D) -> (...)."""
        dt = cand.dtype
        tau = self.temperature(dt)
        if self.mode == "matrix":
            return (self.null_bias[target].to(dt) / tau).expand(cand.shape[:-1])
        h = F.layer_norm(F.normalize(cand, dim=-1, eps=self.eps), (self.dim,),
                         self.null_norm_weight.to(dt), self.null_norm_bias.to(dt))
        h = F.relu(F.linear(h, self.null_w1.to(dt), self.null_b1.to(dt)))  # (..., key_dim)
        head = F.linear(h, self.null_w2.to(dt), self.null_b2.to(dt)).squeeze(-1)  # (...)
        return (head + self.null_bias[target].to(dt)) / tau

    def _keys(self, target: int, context: list[Tensor]) -> list[Tensor]:
        """k_m = normalize(K_m e_m) for each context modality -> list of (B, key_dim)."""
        ids = self._context_ids(target)
        return [F.normalize(e @ self.key[i].to(e.dtype).T, dim=-1, eps=self.eps)
                for i, e in zip(ids, context, strict=True)]

    def _context_ids(self, target: int) -> list[int]:
        return [m for m in range(self.num_modalities) if m != target]

    def _logits(self, target: int, context: list[Tensor], keys: list[Tensor] | None,
                cand: Tensor, per_pair: bool) -> Tensor:
        """Context logits -> (B, C, M-1). cand: shared (C, D), or per pair (B, C, D)."""
        batch, dt = context[0].shape[0], context[0].dtype
        size = cand.shape[:-1] if per_pair else (batch, cand.shape[0])
        if self.mode == "matrix":
            logits = self.matrix_logits[target, self._context_ids(target)].to(dt)
            return logits.expand(*size, -1)
        assert keys is not None
        q = F.normalize(cand @ self.query[target].to(dt).T, dim=-1, eps=self.eps)  # (.., kd)
        if per_pair:  # (B, C, kd) · (B, kd) for every pair: the direct form's own route
            sims = [torch.einsum("bck,bk->bc", q, k) for k in keys]
        else:
            sims = [k @ q.T for k in keys]  # (B, C): one matmul per context modality
        return torch.stack(sims, dim=-1) / self.temperature(dt)  # (B, C, M-1)

    def _probs(self, logits: Tensor, null: Tensor, mask: Tensor | None) -> KeepWeights:
        """Map context logits (B, C, K) and NULL logits (B, C) to keep weights.

        `mask` (B, K), hard_missing only: a missing modality gets w = 0; in the softmax
        variant it also leaves the competition (its logit goes to the dtype's minimum), so
        the others' weights do not depend on its embedding.
        """
        keep = None if mask is None else mask[:, None, :].expand_as(logits)  # (B, C, K)
        if self.gate_type == "softmax":
            if keep is not None:
                logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)
            if not self.use_null:
                w, p_null = torch.softmax(logits, -1), torch.zeros_like(null)
            else:
                p = torch.softmax(torch.cat([logits, null[..., None]], dim=-1), dim=-1)
                w, p_null = p[..., :-1], p[..., -1]
        else:
            w = torch.sigmoid(logits)
            p_null = torch.sigmoid(null) if self.use_null else torch.zeros_like(null)
            w = w * (1 - p_null)[..., None] if self.use_null else w
        if keep is not None:  # exact zeros (also when every context of a query is missing)
            w = w * keep.to(w.dtype)
        return KeepWeights(w, p_null)

    def _keep(self, target: int, context: list[Tensor], keys: list[Tensor] | None,
              cand: Tensor, mask: Tensor | None, per_pair: bool) -> KeepWeights:
        batch = context[0].shape[0]
        logits = self._logits(target, context, keys, cand, per_pair)  # (B, C, M-1)
        if not self.use_null:
            return self._probs(logits, logits.new_zeros(logits.shape[:-1]), mask)
        null = self._null_logits(target, cand)  # (C,) shared or (B, C) per pair
        null = null.expand(batch, -1) if not per_pair else null
        return self._probs(logits, null, mask)

    def keep_weights(self, target: int, context: Sequence[Tensor], candidates: Tensor, *,
                     context_mask: Sequence[Tensor] | None = None) -> KeepWeights:
        """w_{t,m} (B, C, M-1) and p_null (B, C) of every query for every candidate."""
        ctx, cand, mask = self._inputs(target, context, candidates, context_mask, pairs=False)
        with _no_autocast(cand):
            return self._keep(target, ctx, self._keys_or_none(target, ctx), cand, mask, False)

    def _keys_or_none(self, target: int, ctx: list[Tensor]) -> list[Tensor] | None:
        return self._keys(target, ctx) if self.mode == "attention" else None

    # ------------------------------------------------------------------ scoring
    def _scale(self) -> float:
        return float(self.dim) ** ((self.num_modalities - 1) / 2)

    def _beta(self, kw: KeepWeights) -> Tensor:
        return self.alpha(kw.w.dtype) * (1 - kw.w)  # (B, C, M-1)

    def _neutral_list(self, target: int, dtype: torch.dtype) -> list[Tensor] | None:
        n = self.neutral_directions(dtype)
        return None if n is None else [n[i] for i in self._context_ids(target)]

    def score(self, target: int, context: Sequence[Tensor], candidates: Tensor, *,
              context_mask: Sequence[Tensor] | None = None, chunk_size: int = 1024,
              fast: bool = True) -> Tensor:
        """Gated score of every candidate (C, D) for every query -> (B, C).

        The gate is recomputed per candidate. Both forms get the keep weights from (B, C)
        matmuls and loop over candidate chunks of `chunk_size`; they differ in the gated
        product: `fast=True` is the matmul expansion, `fast=False` the direct form that
        materialises every g_m as (B, chunk_size, D). (`score_tuples` / `gated_context` take
        a third route that also re-derives q_t and NULL per pair; tests tie all three.)
        """
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size: must be an int >= 1, got {chunk_size!r}")
        ctx, cand, mask = self._inputs(target, context, candidates, context_mask, pairs=False)
        with _no_autocast(cand):
            keys, neutrals = self._keys_or_none(target, ctx), self._neutral_list(target, cand.dtype)
            terms = prepare_fast(ctx, neutrals, self.eps) if fast else None
            out = []
            for chunk in cand.split(chunk_size):
                beta = self._beta(self._keep(target, ctx, keys, chunk, mask, False))  # (B, c, K)
                if terms is not None:
                    out.append(fast_scores(terms, chunk, beta, self.eps))
                else:
                    pairs = chunk[None].expand(ctx[0].shape[0], -1, -1)  # (B, c, D)
                    out.append(direct_scores(ctx, pairs, beta, neutrals, self.eps))
            return torch.cat(out, dim=1) * self._scale()

    def _pair_scores(self, target: int, ctx: list[Tensor], keys: list[Tensor] | None,
                     pairs: Tensor, mask: Tensor | None,
                     neutrals: list[Tensor] | None) -> Tensor:
        beta = self._beta(self._keep(target, ctx, keys, pairs, mask, True))
        return direct_scores(ctx, pairs, beta, neutrals, self.eps)  # (B, C)

    def score_tuples(self, target: int, context: Sequence[Tensor], candidates: Tensor, *,
                     context_mask: Sequence[Tensor] | None = None) -> Tensor:
        """Score per-query candidates: (B, D) -> (B,) (candidate b with query b), or
        (B, K, D) -> (B, K) (K candidates of their own per query, e.g. sampled negatives)."""
        single = candidates.dim() == 2
        pairs = candidates[:, None, :] if single else candidates
        ctx, cand, mask = self._inputs(target, context, pairs, context_mask, pairs=True)
        with _no_autocast(cand):
            neutrals = self._neutral_list(target, cand.dtype)
            out = self._pair_scores(target, ctx, self._keys_or_none(target, ctx), cand, mask,
                                    neutrals) * self._scale()
        return out[:, 0] if single else out

    def gated_context(self, target: int, context: Sequence[Tensor], candidates: Tensor, *,
                      context_mask: Sequence[Tensor] | None = None) -> list[Tensor]:
        """Direct form's gated context embeddings g_m for every (query, candidate):
        a list of M-1 tensors (B, C, D) in modality order (for inspection and tests)."""
        ctx, cand, mask = self._inputs(target, context, candidates, context_mask, pairs=False)
        with _no_autocast(cand):
            pairs = cand[None].expand(ctx[0].shape[0], -1, -1)  # (B, C, D)
            kw = self._keep(target, ctx, self._keys_or_none(target, ctx), pairs, mask, True)
            neutrals = self._neutral_list(target, cand.dtype)
            return gated_embeddings(ctx, self._beta(kw), neutrals, self.eps)

    # ------------------------------------------------------------------ validation
    def _inputs(self, target: int, context: Sequence[Tensor], candidates: Tensor,
                context_mask: Sequence[Tensor] | None,
                pairs: bool) -> tuple[list[Tensor], Tensor, Tensor | None]:
        """Validate and cast to the compute dtype (float64 stays, everything else float32)."""
        if not isinstance(target, int) or not 0 <= target < self.num_modalities:
            raise ValueError(f"target: must be an int in [0, {self.num_modalities}), "
                             f"got {target!r}")
        if len(context) != self.num_modalities - 1:
            raise ValueError(f"context: expected {self.num_modalities - 1} tensors (every "
                             f"modality but the target), got {len(context)}")
        check_embeddings("context", context)
        batch, dim = context[0].shape
        if dim != self.dim:
            raise ValueError(f"context: embedding width must be dim={self.dim}, got {dim}")
        if pairs:
            if candidates.dim() != 3 or candidates.shape[0] != batch or \
                    candidates.shape[2] != dim:
                raise ValueError(f"candidates: expected ({batch}, D={dim}) or ({batch}, K, "
                                 f"{dim}), got {tuple(candidates.shape)}")
        else:
            check_candidates(candidates, dim)
        wide = any(t.dtype == torch.float64 for t in (candidates, *context))
        dt = torch.float64 if wide else torch.float32
        mask = self._mask(context_mask, batch) if self.hard_missing else None
        return [c.to(dt) for c in context], candidates.to(dt), mask

    def _mask(self, context_mask: Sequence[Tensor] | None, batch: int) -> Tensor | None:
        if context_mask is None:
            return None
        if len(context_mask) != self.num_modalities - 1:
            raise ValueError(f"context_mask: expected {self.num_modalities - 1} tensors, "
                             f"got {len(context_mask)}")
        for i, m in enumerate(context_mask):
            if m.shape != (batch,) or m.dtype != torch.bool:
                raise ValueError(f"context_mask[{i}]: expected a bool tensor of shape "
                                 f"({batch},), got {m.dtype} {tuple(m.shape)}")
        return torch.stack(list(context_mask), dim=1)  # (B, M-1)


def _no_autocast(ref: Tensor) -> AbstractContextManager[object]:
    """The gate runs in full precision even inside a bf16 autocast region."""
    return torch.autocast(device_type=ref.device.type, enabled=False)
