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

from robustlab.core._checks import (
    check_gate_context,
    check_gate_embeddings,
    check_masks,
    compute_dtype,
)
from robustlab.core.gate_batch import attention_beta, gated_product
from robustlab.core.gate_scoring import (
    by_target,
    direct_scores,
    fast_pair_scores,
    fast_scores,
    gated_embeddings,
    prepare_fast,
)

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
    # Internally T targets are stacked in front and the K = M − 1 context modalities come
    # before the (query, candidate) axes: logits and keep weights are (T, K, B, C), so each
    # context's weights are one contiguous (B, C) block.

    def _null_logits(self, targets: list[int], cand: Tensor) -> Tensor:
        """null_t of each target's candidates (T, ..., D) -> (T, ...)."""
        dt = cand.dtype
        tau = self.temperature(dt)
        bias = self.null_bias[targets].to(dt).view(-1, *[1] * (cand.dim() - 2))  # (T, 1..)
        if self.mode == "matrix":
            return (bias / tau).expand(cand.shape[:-1])
        h = F.layer_norm(F.normalize(cand, dim=-1, eps=self.eps), (self.dim,),
                         self.null_norm_weight.to(dt), self.null_norm_bias.to(dt))
        h = F.relu(F.linear(h, self.null_w1.to(dt), self.null_b1.to(dt)))  # (..., key_dim)
        head = F.linear(h, self.null_w2.to(dt), self.null_b2.to(dt)).squeeze(-1)  # (T, ...)
        return (head + bias) / tau

    def _keys(self, modalities: list[int], emb: Tensor) -> Tensor:
        """k_m = normalize(K_m e_m): `emb` (K, B, D) of `modalities` -> (K, B, key_dim)."""
        keys = emb @ self.key[modalities].to(emb.dtype).transpose(1, 2)  # (K, B, key_dim)
        return F.normalize(keys, dim=-1, eps=self.eps)

    def _context_ids(self, target: int) -> list[int]:
        return [m for m in range(self.num_modalities) if m != target]

    def _logits(self, targets: list[int], keys: Tensor | None, cand: Tensor,
                per_pair: bool, batch: int) -> Tensor:
        """Context logits (T, K, B, C) for keys (T, K, B, key_dim); cand: shared (T, C, D), or
        per pair (T, B, C, D)."""
        dt = cand.dtype
        if self.mode == "matrix":
            ids = [self._context_ids(t) for t in targets]
            dev = self.matrix_logits.device
            logits = self.matrix_logits[torch.tensor(targets, device=dev)[:, None],
                                        torch.tensor(ids, device=dev)]  # (T, K)
            return logits.to(dt)[..., None, None].expand(-1, -1, batch, cand.shape[-2])
        assert keys is not None
        query = self.query[targets].to(dt)  # (T, key_dim, D)
        q = F.normalize(torch.einsum("t...d,tkd->t...k", cand, query), dim=-1, eps=self.eps)
        q = q / self.temperature(dt)  # (T, C, kd) or (T, B, C, kd): 1/τ folded into q
        if per_pair:  # every pair its own query: the direct form's own route
            return torch.einsum("tmbk,tbck->tmbc", keys, q)
        t, m, b, kd = keys.shape
        return (keys.reshape(t, m * b, kd) @ q.transpose(1, 2)).view(t, m, b, -1)  # matmul

    def _probs(self, logits: Tensor, null: Tensor | None, mask: Tensor | None) -> KeepWeights:
        """Keep weights w (T, K, B, C) and p_null (T, B | 1, C) from context logits
        (T, K, B, C) and NULL logits (T, B | 1, C) (None without NULL).

        `mask` (T, K, B), hard_missing only: a missing modality gets w = 0; in the softmax
        variant it also leaves the competition (its logit goes to the dtype's minimum), so
        the others' weights do not depend on its embedding.
        """
        keep = None if mask is None else mask[..., None]  # (T, K, B, 1)
        if self.gate_type == "softmax":
            if keep is not None:
                logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)
            if null is None:
                w, p_null = torch.softmax(logits, dim=1), logits.new_zeros(())
            else:
                null = null[:, None].expand(-1, -1, logits.shape[2], -1)  # (T, 1, B, C)
                p = torch.softmax(torch.cat([logits, null], dim=1), dim=1)
                w, p_null = p[:, :-1], p[:, -1]
        else:
            w = torch.sigmoid(logits)
            p_null = logits.new_zeros(()) if null is None else torch.sigmoid(null)
            w = w if null is None else w * (1 - p_null)[:, None]
        if keep is not None:  # exact zeros (also when every context of a query is missing)
            w = w * keep.to(w.dtype)
        return KeepWeights(w, p_null)

    def _keep(self, targets: list[int], keys: Tensor | None, cand: Tensor, mask: Tensor | None,
              per_pair: bool, batch: int) -> KeepWeights:
        """Keep weights (T, K, B, C) of T targets for B queries; cand (T, C, D) or per pair
        (T, B, C, D)."""
        logits = self._logits(targets, keys, cand, per_pair, batch)  # (T, K, B, C)
        null = self._null_logits(targets, cand) if self.use_null else None
        if null is not None and not per_pair:
            null = null[:, None]  # (T, 1, C): the same for every query
        return self._probs(logits, null, mask)

    def _context(self, target: int, ctx: list[Tensor]) -> tuple[Tensor, Tensor | None]:
        """One target's stacked context (1, K, B, D) and its keys (1, K, B, key_dim)."""
        stacked = torch.stack(ctx)[None]  # (1, K, B, D)
        if self.mode != "attention":
            return stacked, None
        return stacked, self._keys(self._context_ids(target), stacked[0])[None]

    def keep_weights(self, target: int, context: Sequence[Tensor], candidates: Tensor, *,
                     context_mask: Sequence[Tensor] | None = None) -> KeepWeights:
        """w_{t,m} (B, C, M-1) and p_null (B, C) of every query for every candidate."""
        ctx, cand, mask = self._inputs(target, context, candidates, context_mask, pairs=False)
        with _no_autocast(cand):
            _, keys = self._context(target, ctx)
            kw = self._keep([target], keys, cand[None], mask, False, len(ctx[0]))
            w = kw.w[0].permute(1, 2, 0)  # (B, C, M-1)
            return KeepWeights(w, kw.p_null.expand(1, *w.shape[:2])[0] if self.use_null
                               else w.new_zeros(w.shape[:2]))

    # ------------------------------------------------------------------ scoring
    def _scale(self) -> float:
        return float(self.dim) ** ((self.num_modalities - 1) / 2)

    def _beta(self, kw: KeepWeights) -> Tensor:
        """β = α (1 − w) -> (T, K, B, C), as one lerp from α toward 0."""
        return torch.lerp(self.alpha(kw.w.dtype), kw.w.new_zeros(()), kw.w)

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
            stacked, keys = self._context(target, ctx)
            neutrals = self._neutral_list(target, cand.dtype)
            terms = prepare_fast(stacked, None if neutrals is None else torch.stack(neutrals)[None],
                                 self.eps) if fast else None
            out = []
            for chunk in cand.split(chunk_size):
                beta = self._beta(self._keep([target], keys, chunk[None], mask, False,
                                              len(ctx[0])))  # (1, K, B, c)
                if terms is not None:
                    out.append(fast_scores(terms, chunk[None], beta, self.eps)[0])
                else:
                    pairs = chunk[None].expand(ctx[0].shape[0], -1, -1)  # (B, c, D)
                    out.append(direct_scores(ctx, pairs, beta[0], neutrals, self.eps))
            return torch.cat(out, dim=1) * self._scale()

    def score_all(self, embeddings: Sequence[Tensor], *, masks: Sequence[Tensor] | None = None,
                  columns: Tensor | None = None) -> Tensor:
        """Every target's gated scores against the batch's own rows, all targets at once (the
        training loss's form): `embeddings` M × (B, D) in modality order -> (M, B, B) with
        out[t, b, c] = score(t, context of row b, candidate embeddings[t][c]); with `columns`
        (M, B, J) row indices, only those candidates of each query: (M, B, J). `masks`: M
        (B,) presence masks (used by a hard_missing gate)."""
        emb, mask = self._inputs_all(embeddings, masks)  # (M, B, D), (M, B)
        ids = torch.tensor([self._context_ids(t) for t in range(self.num_modalities)],
                           device=emb.device)  # (M, K)
        with _no_autocast(emb):
            return self._score_all(emb, ids, None if mask is None else by_target(mask, ids),
                                   columns) * self._scale()

    def _score_all(self, emb: Tensor, ids: Tensor, mask: Tensor | None,
                   columns: Tensor | None) -> Tensor:
        neutrals = self.neutral_directions(emb.dtype)  # (M, D)
        if columns is None and neutrals is not None:  # the whole batch: analytic backward
            return gated_product(emb, neutrals, self._batch_beta(emb, ids, mask), ids,
                                 self.eps)  # (M, B, B)
        targets = list(range(self.num_modalities))
        keys = None if self.mode != "attention" else by_target(self._keys(targets, emb), ids)
        if columns is not None:
            which = torch.arange(len(emb), device=emb.device)[:, None, None]
            cand = emb[which, columns.to(emb.device)]  # (M, B, J, D)
            beta = self._beta(self._keep(targets, keys, cand, mask, True, emb.shape[1]))
            terms = prepare_fast(by_target(emb, ids), None if neutrals is None
                                 else neutrals[ids], self.eps)
            return fast_pair_scores(terms, cand, beta, self.eps)  # (M, B, J)
        beta = self._beta(self._keep(targets, keys, emb, mask, False, emb.shape[1]))
        terms = prepare_fast(by_target(emb, ids), None, self.eps)  # neutral="none"
        return fast_scores(terms, emb, beta, self.eps)

    def _batch_beta(self, emb: Tensor, ids: Tensor, mask: Tensor | None) -> Tensor:
        """β (M, K, B, B) of every target over the batch's own rows: the sigmoid attention
        gate through `attention_beta` (one Function, analytic backward), the other gates
        through the autograd form."""
        if self.mode != "attention" or self.gate_type != "sigmoid":
            targets = list(range(self.num_modalities))
            keys = None if self.mode != "attention" else by_target(self._keys(targets, emb), ids)
            return self._beta(self._keep(targets, keys, emb, mask, False, emb.shape[1]))
        dt = emb.dtype
        null = () if not self.use_null else tuple(p.to(dt) for p in (
            self.null_bias, self.null_norm_weight, self.null_norm_bias, self.null_w1,
            self.null_b1, self.null_w2, self.null_b2))
        return attention_beta(emb, self.query.to(dt), self.key.to(dt), self.log_temp.to(dt),
                              self.strength.to(dt), ids, None if mask is None else mask.to(dt),
                              self.eps, null)

    def _pair_scores(self, target: int, ctx: list[Tensor], pairs: Tensor,
                     mask: Tensor | None) -> Tensor:
        _, keys = self._context(target, ctx)
        beta = self._beta(self._keep([target], keys, pairs[None], mask, True,
                                          len(ctx[0])))[0]  # (K, B, C)
        return direct_scores(ctx, pairs, beta, self._neutral_list(target, pairs.dtype),
                             self.eps)  # (B, C)

    def score_tuples(self, target: int, context: Sequence[Tensor], candidates: Tensor, *,
                     context_mask: Sequence[Tensor] | None = None) -> Tensor:
        """Score per-query candidates: (B, D) -> (B,) (candidate b with query b), or
        (B, K, D) -> (B, K) (K candidates of their own per query, e.g. sampled negatives)."""
        single = candidates.dim() == 2
        pairs = candidates[:, None, :] if single else candidates
        ctx, cand, mask = self._inputs(target, context, pairs, context_mask, pairs=True)
        with _no_autocast(cand):
            out = self._pair_scores(target, ctx, cand, mask) * self._scale()
        return out[:, 0] if single else out

    def gated_context(self, target: int, context: Sequence[Tensor], candidates: Tensor, *,
                      context_mask: Sequence[Tensor] | None = None) -> list[Tensor]:
        """Direct form's gated context embeddings g_m for every (query, candidate):
        a list of M-1 tensors (B, C, D) in modality order (for inspection and tests)."""
        ctx, cand, mask = self._inputs(target, context, candidates, context_mask, pairs=False)
        with _no_autocast(cand):
            pairs = cand[None].expand(ctx[0].shape[0], -1, -1)  # (B, C, D)
            _, keys = self._context(target, ctx)
            kw = self._keep([target], keys, pairs[None], mask, True, len(ctx[0]))
            return gated_embeddings(ctx, self._beta(kw)[0], self._neutral_list(target, cand.dtype),
                                    self.eps)

    # ------------------------------------------------------------------ validation
    def _inputs(self, target: int, context: Sequence[Tensor], candidates: Tensor,
                context_mask: Sequence[Tensor] | None,
                pairs: bool) -> tuple[list[Tensor], Tensor, Tensor | None]:
        """Validate and cast to the compute dtype (float64 stays, everything else float32);
        the (1, M-1, B) context mask of a hard_missing gate, else None."""
        batch = check_gate_context(self.num_modalities, self.dim, target, context, candidates,
                                   pairs)
        dt = compute_dtype([candidates, *context])
        mask = check_masks("context_mask", context_mask, self.num_modalities - 1, batch) \
            if self.hard_missing else None
        return [c.to(dt) for c in context], candidates.to(dt), None if mask is None else mask[None]

    def _inputs_all(self, embeddings: Sequence[Tensor], masks: Sequence[Tensor] | None
                    ) -> tuple[Tensor, Tensor | None]:
        """Validate M (B, D) embeddings -> (M, B, D) in the compute dtype, and their (M, B)
        masks (hard_missing only, else None)."""
        batch = check_gate_embeddings(self.num_modalities, self.dim, embeddings)
        dt = compute_dtype(embeddings)
        mask = check_masks("masks", masks, self.num_modalities, batch) \
            if self.hard_missing else None
        return torch.stack([e.to(dt) for e in embeddings]), mask


def _no_autocast(ref: Tensor) -> AbstractContextManager[object]:
    """The gate runs in full precision even inside a bf16 autocast region."""
    return torch.autocast(device_type=ref.device.type, enabled=False)
