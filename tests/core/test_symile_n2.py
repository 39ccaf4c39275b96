"""The blocked O(N²) Symile kernel (`robustlab.core.symile_n2`, issue 17): analytic backward,
block plans under a memory budget, kept and recomputed blocks, the exact path for rows far
below the largest logit, and the dtype/autocast contract. The parity properties shared with
the reference form live in test_symile.py."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from core_strategies import RTOL, assert_close, embedding_sets, randn
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.core import symile_anchor_losses, symile_loss
from robustlab.core.symile_n2 import (
    BLOCK_BYTES,
    DEFAULT_MEMORY_BUDGET,
    BlockPlan,
    log_partitions,
    plan_blocks,
)


def _naive_log_partitions(embs: list[torch.Tensor], scale: torch.Tensor) -> list[torch.Tensor]:
    """Every anchor's log-partitions from the whole materialised N^M logit tensor."""
    m = len(embs)
    letters = "abcdefgh"[:m]
    logits = scale * torch.einsum(",".join(f"{c}z" for c in letters) + "->" + letters, *embs)
    return [logits.logsumexp(dim=[b for b in range(m) if b != a]) for a in range(m)]


PLANS = {  # N = 3 rows; every way a pass can be cut and kept
    "one block, kept": BlockPlan(chunk=9, tile=3, kept=1),
    "one block, recomputed": BlockPlan(chunk=9, tile=3, kept=0),
    "prefix chunks, some kept": BlockPlan(chunk=2, tile=3, kept=1),
    "tiled rows, recomputed": BlockPlan(chunk=1, tile=2, kept=0),
    "tiled rows, some kept": BlockPlan(chunk=2, tile=1, kept=3),
}


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS.keys())
def test_analytic_backward_passes_gradcheck(m, plan):
    embs = [randn(10 + i, (3, 2), torch.float64).requires_grad_() for i in range(m)]
    scale = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    # gradcheck feeds random upstream gradients of every sign to all M outputs at once
    assert torch.autograd.gradcheck(lambda s, *e: log_partitions(e, s, plan), (scale, *embs))


@pytest.mark.parametrize("plan", PLANS.values(), ids=PLANS.keys())
def test_log_partitions_equal_the_materialised_tensor(plan):
    embs = [randn(20 + i, (3, 4), torch.float64) for i in range(3)]
    scale = torch.tensor(2.5, dtype=torch.float64)
    for got, ref in zip(log_partitions(embs, scale, plan), _naive_log_partitions(embs, scale),
                        strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=30)
@given(embedding_sets(min_b=1, max_b=5, max_m=4, exp_range=1), st.floats(0.01, 100.0),
       st.integers(1, 4000), st.integers(1, 30), st.booleans())
def test_every_budget_gives_the_same_values_and_gradients_incl_the_scale(embs, scale, budget,
                                                                         chunk, auto):
    """Values and gradients (embeddings and logit scale) against the materialised tensor,
    whatever the memory budget keeps or recomputes."""
    chunk_size = None if auto else chunk
    runs = {}
    for name, fn in {"blocked": lambda e, s: symile_loss(e, s, "n_squared", chunk_size=chunk_size,
                                                         memory_budget=budget),
                     "materialised": _naive_loss}.items():
        leaves = [e.clone().requires_grad_() for e in embs]
        s = torch.tensor(scale, dtype=embs[0].dtype, requires_grad=True)
        loss = fn(leaves, s)
        loss.backward()
        runs[name] = (loss.detach(), [x.grad for x in leaves], s.grad)
    (value, grads, grad_s), (ref, ref_grads, ref_s) = runs["blocked"], runs["materialised"]
    dtype, mag = embs[0].dtype, _logit_magnitude(embs, scale)
    assert_close(value, ref, mag, dtype, factor=8)
    for got, want, e in zip(grads, ref_grads, embs, strict=True):
        assert_close(got, want, mag / max(float(e.abs().max()), 1e-30), dtype, factor=16)
    assert_close(grad_s, ref_s, mag / scale, dtype, factor=16)  # ∂/∂s = Σ W · MIP


def _naive_loss(embs: list[torch.Tensor], scale: torch.Tensor) -> torch.Tensor:
    positive = scale * torch.stack(embs).prod(dim=0).sum(dim=1)  # (N,)
    return torch.stack([(lse - positive).mean() for lse in _naive_log_partitions(embs, scale)]
                       ).mean()


def _logit_magnitude(embs: list[torch.Tensor], scale: float) -> float:
    peak = torch.stack([e.abs().amax(dim=0) for e in embs]).prod(dim=0).sum()
    return float(scale * peak) + 1.0


@pytest.mark.parametrize("budget", [1, 10**9])  # every block recomputed / every block kept
def test_rows_far_below_the_largest_logit_are_exact_in_float32(budget):
    """Rows whose log-partition lies hundreds of nats under the largest logit: their sums
    vanish against the running reference and must take the exact route."""
    embs = [randn(30 + i, (6, 5), torch.float64) for i in range(3)]
    embs[0][1:] *= 30.0  # first modality: row 0 is tiny, so its logits are near 0 ...
    embs[2][:-1] *= 30.0  # ... and so is the last modality's last row
    scale = torch.tensor(4.0, dtype=torch.float64)
    ref = _naive_log_partitions(embs, scale)
    assert ref[0].max() - ref[0][0] > 500 and ref[2].max() - ref[2][-1] > 500
    got = log_partitions([e.float() for e in embs], scale.float(),
                         plan_blocks(6, 5, 3, 4, memory_budget=budget))
    for g, r in zip(got, ref, strict=True):
        assert_close(g, r, r.abs() + 1.0, torch.float32, factor=4)


@pytest.mark.parametrize("seed", range(4))
def test_gradients_stay_exact_when_rows_take_the_exact_route_in_float32(seed):
    """Logits of size ~10^6 with rows far apart: the exact route must read the very logits
    the backward does (a differently rounded recomputation put a 2 % error on the gradient:
    ulp(10^6) in float32 is 0.06 nats, found by Hypothesis)."""
    embs = [randn(seed * 10 + i, (4, 10), torch.float64, 10.0) for i in range(3)]
    scale = 60.0
    leaves = [e.float().requires_grad_() for e in embs]
    symile_loss(leaves, scale, "n_squared", chunk_size=2).backward()
    ref = [e.clone().requires_grad_() for e in embs]
    _naive_loss(ref, torch.tensor(scale, dtype=torch.float64)).backward()
    mag = _logit_magnitude(embs, scale)
    for got, want, e in zip(leaves, ref, embs, strict=True):
        assert_close(got.grad, want.grad, mag / float(e.abs().max()), torch.float32, factor=16)


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("seed", range(8))
def test_a_single_tuple_has_no_loss_and_no_gradient_in_float32(m, seed):
    """N = 1: the positive is the whole partition, so the loss and its gradient vanish. The
    backward's 2^(T - L) must be exactly 1 even where T ~ 10^5 (one float32 ulp is 0.008):
    L goes to the backward in the base 2 it was computed in, never through a conversion."""
    leaves = [randn(seed * 7 + i, (1, 9), torch.float32, 15.0).requires_grad_() for i in range(m)]
    loss = symile_loss(leaves, 17.0, "n_squared")
    loss.backward()
    mag = _logit_magnitude([e.detach() for e in leaves], 17.0)
    assert abs(float(loss.detach())) <= 4 * RTOL[torch.float32] * mag
    for e in leaves:  # each term of the gradient is s · Π of the other rows
        assert_close(e.grad, torch.zeros_like(e.grad), mag / float(e.detach().abs().max()),
                     torch.float32, factor=0.1)


def test_huge_logit_gaps_stay_finite_and_exact_in_float32():
    """Logits spread over ±10^4 nats: subnormal exponents are clamped, nothing overflows."""
    embs = [randn(40 + i, (5, 3), torch.float64) * 6.0 for i in range(3)]
    scale = torch.tensor(50.0, dtype=torch.float64)
    leaves = [e.float().requires_grad_() for e in embs]
    loss = symile_loss(leaves, scale.float(), "n_squared", memory_budget=1)
    loss.backward()
    ref = _naive_loss(embs, scale)
    tol = 8 * RTOL[torch.float32] * _logit_magnitude(embs, 50.0)
    assert abs(float(loss.detach()) - float(ref)) <= tol
    assert all(torch.isfinite(x.grad).all() for x in leaves)


@pytest.mark.parametrize("bf16_inputs", [True, False])
def test_bf16_autocast_computes_in_float32(bf16_inputs):
    embs = [randn(50 + i, (7, 6), torch.float32) for i in range(3)]
    if bf16_inputs:  # what an autocast encoder hands over
        embs = [e.bfloat16() for e in embs]
    reference = symile_anchor_losses([e.float() for e in embs], 9.0, "n_squared")
    leaves = [e.clone().requires_grad_() for e in embs]
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        losses = symile_anchor_losses(leaves, 9.0, "n_squared")
    assert all(t.dtype == torch.float32 for t in losses)
    # a bf16 log-sum-exp over N² logits of size ~10 would miss this float32 tolerance
    for got, want in zip(losses, reference, strict=True):
        assert abs(float(got.detach()) - float(want)) <= 1e-5
    torch.stack(losses).sum().backward()
    assert all(x.grad is not None and x.grad.dtype == x.dtype for x in leaves)


def test_float64_stays_float64():
    embs = [randn(60 + i, (4, 3), torch.float64).requires_grad_() for i in range(3)]
    loss = symile_loss(embs, torch.tensor(2.0, dtype=torch.float64), "n_squared")
    loss.backward()
    assert loss.dtype == torch.float64 and all(e.grad.dtype == torch.float64 for e in embs)


def test_backward_twice_with_a_retained_graph_reads_the_kept_blocks_unchanged():
    embs = [randn(70 + i, (5, 4), torch.float64).requires_grad_() for i in range(3)]
    loss = symile_loss(embs, 3.0, "n_squared")  # default budget: every block kept
    assert plan_blocks(5, 4, 3, 8).kept > 0
    (first,) = torch.autograd.grad(loss, embs[0], retain_graph=True)
    (second,) = torch.autograd.grad(loss, embs[0])
    assert torch.equal(first, second)


def test_second_order_gradients_are_a_clear_error():
    embs = [randn(80 + i, (3, 2), torch.float64).requires_grad_() for i in range(3)]
    with pytest.raises(RuntimeError, match="first order only"):
        torch.autograd.grad(symile_loss(embs, 1.0, "n_squared"), embs[0], create_graph=True)


@given(st.integers(1, 600), st.integers(1, 300), st.integers(2, 4), st.sampled_from([2, 4, 8]),
       st.integers(1, 2**28))
def test_plan_keeps_blocks_and_working_set_within_the_budget(n, d, m, itemsize, budget):
    if n ** (m - 2) > 10**6:
        return  # no one runs N^M logits that large
    plan = plan_blocks(n, d, m, itemsize, memory_budget=budget)
    rows = plan.chunk * plan.tile
    working = itemsize * rows * (2 * n + 3 * d)
    assert 1 <= plan.chunk <= n ** (m - 2) and 1 <= plan.tile <= n
    assert plan.tile == n or plan.chunk == 1  # rows are tiled only below one prefix
    assert working <= max(budget, itemsize * (2 * n + 3 * d))  # one row is the floor
    assert working <= BLOCK_BYTES or rows == 1
    assert working + plan.kept * itemsize * rows * n <= max(budget, working)
    blocks = math.ceil(n ** (m - 2) / plan.chunk) * math.ceil(n / plan.tile)
    assert plan.kept <= blocks


def test_default_budget_keeps_a_batch_of_256_whole():
    plan = plan_blocks(256, 256, 3, 4)
    blocks = math.ceil(256 / plan.chunk)
    assert plan.kept == blocks and DEFAULT_MEMORY_BUDGET == 128 * 2**20
    assert plan_blocks(512, 256, 3, 4).kept < math.ceil(512 / plan_blocks(512, 256, 3, 4).chunk)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"chunk_size": 0}, "chunk_size: must be >= 1"),
    ({"memory_budget": 0}, "memory_budget: must be a positive number of bytes"),
    ({"memory_budget": 2.5}, "memory_budget: must be a positive number of bytes"),
])
def test_bad_block_settings_are_clear_errors(kwargs, message):
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=message):
        symile_loss([x, x, x], 1.0, "n_squared", **kwargs)


def test_m_up_to_five_matches_the_materialised_tensor():
    for m, plan in itertools.product([2, 3, 4, 5], [BlockPlan(2, 2, 0), BlockPlan(3, 3, 2)]):
        embs = [randn(90 + i, (3, 2), torch.float64) for i in range(m)]
        scale = torch.tensor(0.7, dtype=torch.float64)
        for got, ref in zip(log_partitions(embs, scale, plan), _naive_log_partitions(embs, scale),
                            strict=True):
            torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
