"""Symile's O(N²) negatives at matmul speed: every anchor's log-partition in one blocked pass.

The logits of every anchor are slices of one tensor. For M = 3 modalities x, y, z and the
already-exponentiated logit scale s,

    T[i, j, k] = s · Σ_d x_id y_jd z_kd                                   (N × N × N)

anchor x's log-partition for row i is the log-sum-exp of T[i, :, :] over its N² negatives
(the true tuple (i, i, i) included), anchor y's for row j that of T[:, j, :], anchor z's that
of T[:, :, k]. The reference package builds an (N², D) product matrix and multiplies it once
per anchor; here T is computed once, in blocks, and reduced along all three axes in the same
pass: a third of the logits, and no (N², D) matrix.

Blocks. The middle modalities (all but the first and the last; y for M = 3) index "prefix"
tuples p (N^(M-2) of them; the rows of y for M = 3). A block is c prefixes × a tile of t rows
of the first modality × every row of the last:

    XY = x[tile] ⊙ h_p     (c·t, D)    h_p = ⊙ of the middle rows of prefix p
    T  = XY @ (s·z)ᵀ       (c·t, N)    one plain matmul; c·t·D ≪ c·t·N work to build XY

Forward (online log-sum-exp, flash-attention style): each prefix's block is shifted by its own
maximum and exponentiated once (base 2: exp2 runs ~3x faster than exp here). Its row sums
(Σ_k) and column sums (Σ_i), weighted by each prefix's shift, add into the first and last
anchors' partition sums, kept linear against one running reference (the largest maximum so
far; rescaled when it rises); each prefix's own total is its middle anchor's share.
Exponents are clamped at log2(tiny): exp's subnormal path is up to ~180x slower (measured).
A clamped, underflowed or rescaled-away term moves a row's sum by at most `tiny`, so a row
whose sum ends below tiny · N^(M-1) · 16 / eps of the reference (float32, N = 512: 2^-81,
i.e. its log-partition ~56 nats under the largest logit) is redone in log space; every
other row keeps float precision. The redo reads the very logits the backward will (kept, or
recomputed by the same matmul call), and the backward gets the log-partitions in the base 2
they were computed in: where one logit is a whole partition, 2^(T - L) is then exactly 1
(a conversion or a differently rounded recomputation cost 2 % of the gradient at |T| ~ 1e6
in float32, found by Hypothesis).

Backward (analytic; nothing recorded by autograd). With g_a the upstream gradient of anchor a's
log-partitions, dLoss/dT = W = Σ_a g_a · softmax_a(T): the softmax weights of every anchor.
The first and middle anchors' weights share one exponential per (prefix, row); the last
anchor's takes a second. T is linear in each embedding, so the gradients are matmuls of W:

    ∂z = s · Wᵀ @ XY      A = W @ z      ∂x[i] = s · Σ_p A[p, i] ⊙ h_p
    ∂h_p = s · Σ_i A[p, i] ⊙ x_i        ∂s = Σ W ⊙ T / s = ⟨x, ∂x⟩ / s

Memory. One memory budget bounds the loss's working memory (`plan_blocks`): blocks are sized
for speed (about `BLOCK_BYTES` of working set, cache-resident on a CPU) and the rest of the
budget keeps the forward's logit blocks for the backward, which recomputes only the blocks
the budget could not keep. Matmul FLOPs: 2·N^M·D forward, 4·N^M·D backward, plus 2·D per
recomputed logit (2·N^M·D when none is kept); peak memory is the budget, never N^M.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import torch
from torch import Tensor

DEFAULT_MEMORY_BUDGET = 128 * 2**20
"""Bytes of working memory the loss may use (blocks plus kept logits). 128 MiB keeps every
logit of N = 256, M = 3 in float32 (64 MiB) for the backward; at N = 512 a quarter of them."""

BLOCK_BYTES = 8 * 2**20
"""Working set one block aims at: 8 MiB holds a 1024 × 512 float32 logit block. On the
development CPU (1 MiB L2 per core) larger blocks ran no faster and smaller ones slower
(per-block overhead); see `python -m bench symile_memory`."""

_LOG2E = 1.0 / math.log(2.0)


@dataclass(frozen=True)
class BlockPlan:
    """One block = `chunk` prefixes × `tile` rows of the first modality × all N of the last;
    the forward keeps the logits of the first `kept` blocks for the backward."""

    chunk: int
    tile: int
    kept: int = 0


def plan_blocks(n: int, d: int, num_modalities: int, itemsize: int,
                chunk_size: int | None = None,
                memory_budget: int = DEFAULT_MEMORY_BUDGET) -> BlockPlan:
    """The blocks for N rows of width D and M modalities under `memory_budget` bytes.

    A row of a block costs itemsize · (2N + 3D) bytes of working set (logits and weights; XY,
    A and A ⊙ h). `chunk_size` given: that many prefixes per block, each with all N rows of
    the first modality (a (chunk_size · N, N) logit block); otherwise as many rows as fit
    min(budget, BLOCK_BYTES), tiling the first modality below one prefix's N rows. What the
    budget has left keeps whole logit blocks (itemsize · rows · N bytes each)."""
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size: must be an int >= 1 or None (automatic), "
                         f"got {chunk_size!r}")
    if not isinstance(memory_budget, int) or memory_budget < 1:
        raise ValueError(f"memory_budget: must be a positive number of bytes, "
                         f"got {memory_budget!r}")
    num_prefix, per_row = n ** (num_modalities - 2), itemsize * (2 * n + 3 * d)
    if chunk_size is not None:
        chunk, tile = min(chunk_size, num_prefix), n
    else:
        rows = max(1, min(memory_budget, BLOCK_BYTES) // per_row)
        chunk, tile = (min(num_prefix, rows // n), n) if rows >= n else (1, rows)
    spare = max(0, memory_budget - chunk * tile * per_row)
    blocks = -(-num_prefix // chunk) * -(-n // tile)
    return BlockPlan(chunk, tile, min(blocks, spare // (itemsize * chunk * tile * n)))


def log_partitions(embeddings: Sequence[Tensor], logit_scale: Tensor,
                   plan: BlockPlan) -> list[Tensor]:
    """For every anchor m and row r: log Σ exp(s · MIP) over all N^(M-1) tuples of the other
    modalities' rows (the true tuple included) -> M tensors (N,), in modality order.

    `embeddings`: M >= 2 tensors (N, D) of one floating dtype; `logit_scale`: s, a one-element
    tensor of that dtype. Differentiable in all of them (first order)."""
    return list(_LogPartitions.apply(logit_scale, plan, *embeddings))


class _LogPartitions(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, scale: Tensor, plan: BlockPlan, *embs: Tensor) -> tuple[Tensor, ...]:
        first, *middles, last = embs
        kept = _Kept(plan.kept)
        lses2 = _forward(first, middles, last * (scale * _LOG2E), plan, kept)  # base 2
        # the backward takes the base-2 values as computed: 2^(T - L) is then exactly 1 where
        # a logit is its row's whole partition, so the positive's gradient cancels exactly
        ctx.save_for_backward(scale, *embs, *lses2, *kept.blocks)
        ctx.plan = plan
        return tuple(lv / _LOG2E for lv in lses2)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():  # create_graph=True: the weights below are not differentiable
            raise RuntimeError("symile n_squared loss: its analytic backward is first order only; "
                               "second-order gradients (create_graph=True) are not supported")
        scale, *saved = ctx.saved_tensors
        m = len(grads)
        kept = _Kept(ctx.plan.kept, saved[2 * m:])
        grad_embs, grad_scale = _backward(saved[:m], scale, saved[m:2 * m], grads, ctx.plan, kept)
        return (grad_scale, None, *grad_embs)


# ---------------------------------------------------------------------------------- blocks
def _floor(dtype: torch.dtype) -> float:
    return math.log2(torch.finfo(dtype).tiny)  # exp2 of anything lower is subnormal (or 0)


class _Scratch:
    """Block buffers reused across blocks: one allocation per name and pass, not per block
    (fresh multi-MiB blocks cost page faults: ~20 % of the time, measured)."""

    def __init__(self, like: Tensor) -> None:
        self.like = like
        self.bufs: dict[str, Tensor] = {}

    def take(self, name: str, *shape: int) -> Tensor:
        numel = math.prod(shape)
        buf = self.bufs.get(name)
        if buf is None or buf.numel() < numel:
            buf = self.bufs[name] = self.like.new_empty(numel)
        return buf[:numel].view(shape)


class _Kept:
    """The logits of the first `count` blocks, one tensor per block (block-sized allocations
    are reused by the allocator from step to step; one N^M-sized one would fault its pages in
    anew every step: 30 ms per 64 MiB, measured)."""

    def __init__(self, count: int, blocks: Sequence[Tensor] = ()) -> None:
        self.count, self.blocks, self.read = count, list(blocks), 0

    def new(self, like: Tensor, *shape: int) -> Tensor | None:
        """Forward: room for this block's logits, or None when the budget is spent."""
        if len(self.blocks) == self.count:
            return None
        self.blocks.append(like.new_empty(shape))
        return self.blocks[-1]

    def next(self) -> Tensor | None:
        """Backward: the next kept block in forward order, or None (recompute it)."""
        self.read += 1
        return self.blocks[self.read - 1] if self.read <= len(self.blocks) else None


def _digits(start: int, stop: int, n: int, k: int, device: torch.device) -> list[Tensor]:
    """The k middle-modality row indices of the flat prefixes start..stop-1 (base-N digits)."""
    flat = torch.arange(start, stop, device=device)
    return [(flat // n ** (k - 1 - j)) % n for j in range(k)]


def _prefix_chunks(middles: Sequence[Tensor], n: int, chunk: int,
                   device: torch.device) -> Iterator[tuple[int, int, list[Tensor], Tensor | None]]:
    """(start, stop, digits, h) per chunk of prefixes; h (c, D) is the ⊙ of their middle rows
    (None for M = 2: one empty prefix)."""
    if not middles:
        yield 0, 1, [], None
        return
    for start in range(0, n ** len(middles), chunk):
        stop = min(start + chunk, n ** len(middles))
        if len(middles) == 1:
            yield start, stop, [torch.arange(start, stop, device=device)], middles[0][start:stop]
            continue
        digits = _digits(start, stop, n, len(middles), device)
        yield start, stop, digits, reduce(torch.mul, [e[dg] for e, dg in zip(middles, digits,
                                                                               strict=True)])


def _pair_rows(tile: Tensor, h: Tensor | None, scratch: _Scratch) -> Tensor:
    if h is None:
        return tile[None]  # (1, t, D)
    out = scratch.take("xy", h.shape[0], *tile.shape)
    return torch.mul(tile[None], h[:, None], out=out)  # (c, t, D)


def _logits(xy: Tensor, last2: Tensor, out: Tensor) -> Tensor:
    """Block logits in base-2 units (`last2` carries s · log2 e) into `out`."""
    c, t, d = xy.shape
    torch.mm(xy.reshape(c * t, d), last2.T, out=out.view(c * t, -1))
    return out  # (c, t, N)


# ---------------------------------------------------------------------------------- forward
def _forward(first: Tensor, middles: list[Tensor], last2: Tensor, plan: BlockPlan,
             kept: _Kept) -> list[Tensor]:
    """Every anchor's log-partitions in base 2 (log2 Σ 2^T): the first and last anchors' as
    linear sums against a running reference (one matrix-vector product per block, redone by
    `_exact_sweep` where too small), each prefix's in log space (its sum is >= 1)."""
    n, scratch = first.shape[0], _Scratch(first)
    ref = first.new_tensor(-math.inf)  # base 2
    sum_first, sum_last = first.new_zeros(n), first.new_zeros(n)  # Σ 2^(T - ref)
    log_prefix = first.new_full((n ** len(middles),), -math.inf)  # base 2
    for start, stop, _, h in _prefix_chunks(middles, n, plan.chunk, first.device):
        for i0 in range(0, n, plan.tile):
            rows = slice(i0, i0 + plan.tile)
            top, row_sums, col_sums = _block_sums(first[rows], h, last2, scratch, kept)
            new_ref = torch.maximum(ref, top.max())
            decay = torch.exp2(ref - new_ref)  # 1 unless this block raised the reference
            sum_first.mul_(decay)
            sum_last.mul_(decay)
            weight = torch.exp2(top - new_ref)  # (c,) each prefix's shift against ref
            sum_first[rows].addmv_(row_sums.T, weight)  # (t,)
            sum_last.addmv_(col_sums.T, weight)  # (N,)
            ref = new_ref
            if middles:
                total = top + row_sums.sum(1).log2()  # (c,)
                log_prefix[start:stop] = torch.logaddexp2(log_prefix[start:stop], total)
    lse_first, bad_first = _finish(sum_first, ref, n ** (len(middles) + 1))
    lse_last, bad_last = _finish(sum_last, ref, n ** (len(middles) + 1))
    if len(bad_first) or len(bad_last):
        replay = _Kept(kept.count, kept.blocks)  # read the kept blocks again from the first
        lse_first[bad_first], lse_last[bad_last] = _exact_sweep(
            first, middles, last2, plan, replay, scratch, (bad_first, bad_last))
    return [lse_first, *_middle_log_partitions(log_prefix, len(middles), n), lse_last]


def _block_sums(tile: Tensor, h: Tensor | None, last2: Tensor, scratch: _Scratch,
                kept: _Kept) -> tuple[Tensor, Tensor, Tensor]:
    """One block's maxima (c,) and its shifted exponentials summed over the last modality
    (c, t) and over the tile's rows (c, N)."""
    xy = _pair_rows(tile, h, scratch)  # (c, t, D)
    shape = (xy.shape[0], xy.shape[1], last2.shape[0])
    keep = kept.new(tile, *shape)
    logits = _logits(xy, last2, scratch.take("logits", *shape) if keep is None else keep)
    top = logits.amax(dim=(1, 2))  # (c,) each prefix's block maximum
    shifted = logits if keep is None else scratch.take("shifted", *shape)  # kept: read-only
    torch.sub(logits, top[:, None, None], out=shifted)
    shifted.clamp_min_(_floor(tile.dtype)).exp2_()  # (0, 1]
    return top, shifted.sum(2), shifted.sum(1)


def _finish(sums: Tensor, ref: Tensor, count: int) -> tuple[Tensor, Tensor]:
    """Base-2 log-partitions from sums of 2^(T - ref) over `count` terms each, and the rows
    whose sum the lost terms (at most tiny each) could move by more than eps/16."""
    info = torch.finfo(sums.dtype)
    low = sums < info.tiny * count * 16 / info.eps
    return ref + sums.log2(), low.nonzero()[:, 0]


def _exact_sweep(first: Tensor, middles: list[Tensor], last2: Tensor, plan: BlockPlan,
                 kept: _Kept, scratch: _Scratch,
                 bad: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """log2 Σ 2^T in log space for the first anchor's rows and the last anchor's columns in
    `bad`, from the very logits the pass and the backward use (kept, or recomputed by the
    same matmul): the backward's 2^(T - L) then sees no rounding mismatch."""
    rows_bad, cols_bad = bad
    acc_rows = first.new_full(rows_bad.shape, -math.inf)
    acc_cols = first.new_full(cols_bad.shape, -math.inf)
    for _, _, _, h in _prefix_chunks(middles, first.shape[0], plan.chunk, first.device):
        for i0 in range(0, first.shape[0], plan.tile):
            xy = _pair_rows(first[i0:i0 + plan.tile], h, scratch)  # (c, t, D)
            shape = (xy.shape[0], xy.shape[1], last2.shape[0])
            logits = kept.next()
            if logits is None:
                logits = _logits(xy, last2, scratch.take("logits", *shape))
            here = (rows_bad >= i0) & (rows_bad < i0 + shape[1])
            acc_rows[here] = torch.logaddexp2(
                acc_rows[here], _logsumexp2(logits[:, rows_bad[here] - i0], (0, 2)))
            acc_cols = torch.logaddexp2(acc_cols, _logsumexp2(logits[:, :, cols_bad], (0, 1)))
    return acc_rows, acc_cols


def _logsumexp2(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """log2 Σ 2^x over `dims` (finite x): exactly x for a single element."""
    top = x.amax(dim=dims, keepdim=True)
    return (top + torch.exp2(x - top).sum(dim=dims, keepdim=True).log2()).squeeze(dims)


def _middle_log_partitions(acc_prefix: Tensor, k: int, n: int) -> list[Tensor]:
    """Each middle anchor's log-partitions: the prefix sums reduced over the other digits."""
    if k <= 1:
        return [acc_prefix] if k else []
    grid = acc_prefix.view((n,) * k)
    return [_logsumexp2(grid, tuple(a for a in range(k) if a != j)) for j in range(k)]


# ---------------------------------------------------------------------------------- backward
def _backward(embs: Sequence[Tensor], scale: Tensor, lses2: Sequence[Tensor],
              grads: Sequence[Tensor], plan: BlockPlan,
              kept: _Kept) -> tuple[list[Tensor], Tensor]:
    first, *middles, last = embs
    n, scratch = first.shape[0], _Scratch(first)
    last2 = last * (scale * _LOG2E)  # as in the forward, bit for bit
    raw = [torch.zeros_like(e, memory_format=torch.contiguous_format) for e in embs]
    for _, _, digits, h in _prefix_chunks(middles, n, plan.chunk, first.device):
        anchors = _Anchors.gather(lses2, grads, digits, _floor(first.dtype))
        grad_h: Tensor | None = None
        for i0 in range(0, n, plan.tile):
            rows = slice(i0, i0 + plan.tile)
            part = _block_grads(first[rows], h, (last, last2), anchors, rows, kept, scratch, raw)
            grad_h = part if grad_h is None or part is None else grad_h + part
        if grad_h is not None:
            _scatter_prefix_grads(raw[1:-1], grad_h, middles, digits)
    grad_scale = (first * raw[0]).sum().reshape(scale.shape)  # Σ W · MIP
    return [scale * r for r in raw], grad_scale


def _block_grads(tile: Tensor, h: Tensor | None, lasts: tuple[Tensor, Tensor],
                 anchors: _Anchors, rows: slice, kept: _Kept, scratch: _Scratch,
                 raw: list[Tensor]) -> Tensor | None:
    """One block's share of the unscaled gradients, added into raw[0][rows] (first) and
    raw[-1] (last); returns the prefixes' ∂h (c, D), None for M = 2."""
    last, last2 = lasts
    xy = _pair_rows(tile, h, scratch)  # (c, t, D)
    c, t, d = xy.shape
    out = scratch.take("w", c, t, last.shape[0])
    logits = kept.next()
    if logits is None:  # recompute the block, then overwrite it with the weights
        logits = _logits(xy, last2, out)
    weights = anchors.logit_grads(logits, rows, out, scratch).view(c * t, -1)  # (c·t, N)
    raw[-1].addmm_(weights.T, xy.reshape(c * t, d))  # Σ_{p,i} W · XY
    a = torch.mm(weights, last, out=scratch.take("a", c * t, d)).view(c, t, d)  # Σ_k W · z_k
    if h is None:
        raw[0][rows] += a[0]
        return None
    raw[0][rows] += torch.mul(a, h[:, None], out=xy).sum(0)  # xy is spent
    return torch.mul(a, tile[None], out=xy).sum(1)  # (c, D)


@dataclass
class _Anchors:
    """One prefix chunk's view of the anchors' log-partitions L (base 2) and upstream
    gradients g."""

    l_first: Tensor  # (N,)
    g_first: Tensor  # (N,)
    l_mid: list[Tensor]  # M-2 × (c,) the middle anchors' values at each prefix's digits
    g_mid: list[Tensor]
    l_last: Tensor  # (N,)
    g_last: Tensor  # (N,)
    lo: float

    @classmethod
    def gather(cls, lses: Sequence[Tensor], grads: Sequence[Tensor], digits: list[Tensor],
               lo: float) -> _Anchors:
        return cls(lses[0], grads[0], [lv[dg] for lv, dg in zip(lses[1:-1], digits, strict=True)],
                   [gv[dg] for gv, dg in zip(grads[1:-1], digits, strict=True)], lses[-1],
                   grads[-1], lo)

    def logit_grads(self, logits: Tensor, rows: slice, out: Tensor, scratch: _Scratch) -> Tensor:
        """W = Σ_a g_a · 2^(T - L_a) for a block of base-2 logits T (c, t, N), into `out`
        (which may be T itself)."""
        # first and middle anchors vary by (prefix, row) only: one exponential against their
        # smallest L (every logit is <= each L, so every factor below is <= 1)
        ls = [self.l_first[rows][None, :], *(lv[:, None] for lv in self.l_mid)]  # (·, t), (c, ·)
        gs = [self.g_first[rows][None, :], *(gv[:, None] for gv in self.g_mid)]
        low = reduce(torch.minimum, ls)  # (c, t)
        coef = reduce(torch.add, [g * torch.exp2(low - lv) for lv, g in zip(ls, gs, strict=True)])
        last_w = torch.sub(logits, self.l_last, out=scratch.take("last_w", *logits.shape))
        last_w.clamp_min_(self.lo).exp2_()  # (c, t, N)
        w = torch.sub(logits, low[..., None], out=out)
        w.clamp_min_(self.lo).exp2_().mul_(coef[..., None])
        return w.addcmul_(last_w, self.g_last)


def _scatter_prefix_grads(raw_mid: list[Tensor], grad_h: Tensor, middles: list[Tensor],
                          digits: list[Tensor]) -> None:
    """∂h_p (c, D) -> each middle modality's rows: h_p = ⊙_j middle_j[digit_j(p)]."""
    for j, (acc, dg) in enumerate(zip(raw_mid, digits, strict=True)):
        others = [e[d] for e, d in zip(middles[:j] + middles[j + 1:], digits[:j] + digits[j + 1:],
                                       strict=True)]
        acc.index_add_(0, dg, reduce(torch.mul, others, grad_h))
