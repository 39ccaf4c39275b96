"""Hypothesis properties of the TRIANGLE area, scores and loss (issue 11).

Values are compared through the surrogate ½(‖u‖²‖v‖² − ⟨u,v⟩²) (`squared=True`): its
rounding error is bounded by a multiple of S⁴, S = ‖a‖ + ‖b‖ + ‖c‖ of the triangle, so one
rtol serves every scale.
"""

from __future__ import annotations

import math

import pytest
import torch
from core_strategies import RTOL, assert_close, dtypes, randn, seeds
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.core import (
    triangle_areas,
    triangle_logits,
    triangle_loss,
    triangle_scores,
)
from robustlab.core.triangle import triangle_areas_reference_bug

scales = st.floats(0.01, 100.0)


@st.composite
def vertex_sets(draw: st.DrawFn, exp_range: int = 3, same_rows: bool = False,
                min_d: int = 1) -> list[torch.Tensor]:
    """Anchors (B1, D) and the tuples' b, c (B2, D), each scaled by its own 10^e."""
    b1 = draw(st.integers(1, 5))
    b2 = b1 if same_rows else draw(st.integers(1, 5))
    d = draw(st.integers(min_d, 10))
    dtype, seed = draw(dtypes), draw(seeds)
    exps = draw(st.lists(st.integers(-exp_range, exp_range), min_size=3, max_size=3))
    return [randn(seed + i, (b1 if i == 0 else b2, d), dtype, 10.0**e)
            for i, e in enumerate(exps)]


def _size4(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(‖a_i‖ + ‖b_j‖ + ‖c_j‖)⁴ -> (B1, B2): bounds the surrogate and its rounding error."""
    return (a.double().norm(dim=1)[:, None] + b.double().norm(dim=1)[None]
            + c.double().norm(dim=1)[None]) ** 4


def _direct(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, squared: bool = True,
            eps: float = 1e-8) -> torch.Tensor:
    """The direct form: materialise the (B1, B2, D) sides u = a_i − b_j, v = a_i − c_j."""
    u = a[:, None, :] - b[None, :, :]  # (B1, B2, D)
    v = a[:, None, :] - c[None, :, :]
    det = ((u * u).sum(-1) * (v * v).sum(-1) - (u * v).sum(-1) ** 2).clamp_min(0.0)
    return 0.5 * det if squared else 0.5 * (det + eps).sqrt()


@given(vertex_sets(), st.booleans(), seeds)
def test_efficient_form_equals_the_direct_form_values_and_gradients(vs, squared, seed):
    mag = _size4(*vs)
    leaves = [[v.clone().requires_grad_() for v in vs] for _ in range(2)]
    fast = triangle_areas(*leaves[0], squared=squared)
    slow = _direct(*leaves[1], squared=squared)
    assert fast.shape == (vs[0].shape[0], vs[1].shape[0])
    if squared:
        assert_close(fast.detach(), slow.detach(), mag, vs[0].dtype, factor=8)
    else:  # |√x − √y| <= √|x − y|: the area to the square root of the surrogate's tolerance
        assert_close(fast.detach(), slow.detach(), (8 * RTOL[vs[0].dtype] * mag).sqrt()
                     / RTOL[vs[0].dtype], vs[0].dtype)
        return  # d√/dx is unbounded at degenerate triangles: gradients compared on the surrogate
    weights = randn(seed, tuple(fast.shape), vs[0].dtype)
    (fast * weights).sum().backward()
    (slow * weights).sum().backward()
    # d surrogate / d vertex is a cubic in the sizes, summed over the other index
    grad_mag = float(mag.max()) ** 0.75 * max(fast.shape) * float(weights.abs().max())
    for got, want in zip(leaves[0], leaves[1], strict=True):
        assert_close(got.grad, want.grad, grad_mag, vs[0].dtype, factor=16)


@given(vertex_sets(same_rows=True), st.data())
def test_area_symmetric_under_any_permutation_of_the_vertices(vs, data):
    base = triangle_areas(*vs)
    order = data.draw(st.permutations(range(3)))
    moved = triangle_areas(*[vs[i] for i in order])
    mag = _size4(*vs)
    assert_close(moved.diagonal(), base.diagonal(), mag.diagonal(), vs[0].dtype, factor=8)
    if order[0] == 0:  # b and c swapped: every (i, j) is the same triangle
        assert_close(moved, base, mag, vs[0].dtype, factor=8)


@given(vertex_sets(), st.floats(-3, 3), st.booleans())
def test_collinear_points_have_zero_area(vs, t, squared):
    a, b, _ = vs
    # c on the line through a_i and b_j needs a pair-specific point: use one anchor row
    a = a[:1]
    c = a + t * (b - a)  # (B2, D)
    got = triangle_areas(a, b, c, squared=squared)
    tol = 16 * RTOL[a.dtype] * _size4(a, b, c)
    if squared:
        assert (got.double() <= tol).all()
    else:
        assert (got.double() <= 0.5 * (tol + 1e-8).sqrt() * (1 + 1e-6)).all()


@given(vertex_sets(exp_range=2), seeds, st.integers(-2, 2))
def test_invariant_to_translating_all_three_points(vs, seed, exp):
    shift = randn(seed, (1, vs[0].shape[1]), vs[0].dtype, 10.0**exp)
    moved = [v + shift for v in vs]
    mag = torch.maximum(_size4(*vs), _size4(*moved))
    assert_close(triangle_areas(*moved), triangle_areas(*vs), mag, vs[0].dtype, factor=16)


@given(vertex_sets(), seeds)
def test_invariant_to_rotations(vs, seed):
    d = vs[0].shape[1]
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    rotated = [(v.double() @ q).to(v.dtype) for v in vs]
    assert_close(triangle_areas(*rotated), triangle_areas(*vs), _size4(*vs), vs[0].dtype,
                 factor=16)


@given(st.floats(-10, 10), st.floats(-10, 10), st.floats(-10, 10), st.integers(2, 8),
       dtypes, seeds)
def test_half_base_times_height_on_hand_built_triangles(base, offset, height, d, dtype, seed):
    """a = p, b = p + base·e1, c = p + offset·e1 + height·e2, in a random orthonormal frame."""
    gen = torch.Generator().manual_seed(seed)
    frame, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    e1, e2 = frame[:, 0], frame[:, 1]
    p = torch.randn(d, generator=gen, dtype=torch.float64)
    a, b, c = (x[None].to(dtype) for x in (p, p + base * e1, p + offset * e1 + height * e2))
    area = 0.5 * abs(base * height)
    mag = _size4(a, b, c)
    surrogate = triangle_areas(a, b, c, squared=True)
    assert_close(surrogate, torch.tensor([[2 * area**2]], dtype=torch.float64), mag, dtype,
                 factor=16)  # ½(2·area)²
    true_area = triangle_areas(a, b, c, squared=False)
    tol = (16 * RTOL[dtype] * mag + 1e-8).sqrt()
    assert abs(float(true_area) - area) <= float(tol)


@given(vertex_sets(exp_range=1), st.integers(1, 7), seeds, st.integers(1, 4), st.booleans())
def test_scores_are_minus_the_area_of_each_pair(vs, num_cand, seed, chunk, squared):
    _, b, c = vs
    cand = randn(seed, (num_cand, b.shape[1]), b.dtype)
    scores = triangle_scores([b, c], cand, squared=squared, chunk_size=chunk)  # (B, C)
    assert scores.shape == (b.shape[0], num_cand)
    want = -triangle_areas(cand, b, c, squared=squared).T  # every candidate as the anchor
    tol = 8 * RTOL[b.dtype] * _size4(cand, b, c).T
    assert_close(scores, want, tol.sqrt() / RTOL[b.dtype] if not squared else tol / RTOL[b.dtype],
                 b.dtype)


@given(vertex_sets(exp_range=1), st.integers(1, 6), scales, seeds, st.booleans())
def test_retrieval_argmax_is_the_training_logits_argmax_for_any_scale(vs, num_cand, scale,
                                                                      seed, squared):
    _, b, c = vs
    cand = randn(seed, (num_cand, b.shape[1]), b.dtype)
    scores = triangle_scores([b, c], cand, squared=True)  # (B, C)
    logits = triangle_logits(cand, b, c, scale, squared=squared).T  # (B, C)
    picked = logits.argmax(dim=1)
    best = scores.max(dim=1).values
    chosen = scores.gather(1, picked[:, None])[:, 0]
    tol = 64 * RTOL[b.dtype] * _size4(cand, b, c).T.amax(dim=1)  # ties within rounding
    assert (chosen >= best - tol).all()


@given(vertex_sets(same_rows=True), scales, st.booleans())
def test_loss_is_finite_and_nonnegative(vs, scale, squared):
    loss = triangle_loss(vs, scale, squared)
    assert torch.isfinite(loss) and loss >= 0  # a cross-entropy is never negative


@given(st.integers(1, 7), st.integers(1, 8), scales, seeds, dtypes, st.booleans())
def test_identical_rows_give_log_batch(n, d, scale, seed, dtype, squared):
    rows = [randn(seed + i, (1, d), dtype).expand(n, d) for i in range(3)]
    size = sum(float(r[0].norm()) for r in rows)
    tol = 8 * RTOL[dtype] * (1 + scale * size**4)  # ties up to the areas' rounding
    assert abs(float(triangle_loss(rows, scale, squared)) - math.log(n)) <= tol


def test_loss_matches_the_symmetric_infonce_written_out():
    n = 5
    x, y, z = (torch.nn.functional.normalize(randn(i, (n, 4), torch.float64), dim=1)
               for i in range(3))
    scale = 3.1
    ce = torch.nn.functional.cross_entropy
    for squared in (True, False):
        total = 0.0
        for anchor, p, q in ((x, y, z), (y, x, z), (z, x, y)):
            logits = -scale * _direct(anchor, p, q, squared)  # (N, N)
            labels = torch.arange(n)
            total += 0.5 * float(ce(logits, labels) + ce(logits.T, labels))
        got = float(triangle_loss([x, y, z], scale, squared))
        assert got == pytest.approx(total / 3, rel=1e-12)


def test_the_reference_form_differs_off_the_diagonal_only():
    """The reference's efficient form (⟨b_i, c_j⟩ for ⟨b_j, c_j⟩) agrees with the direct form
    on the positives and is far off on the negatives. Unit vectors with b, c near a, as a
    trained model's embeddings are: the reference sees each negative's triangle ~4x too big
    (mean relative deviation 2.96-3.33 at D = 16-256; on independent random unit vectors it
    is 0.50 / 0.21 / 0.10 / 0.05 at D = 4 / 16 / 64 / 256, shrinking like 1/√D)."""
    gen = torch.Generator().manual_seed(0)
    unit = torch.nn.functional.normalize
    a = unit(torch.randn(256, 64, generator=gen, dtype=torch.float64), dim=1)
    b, c = (unit(a + 0.5 * unit(torch.randn(256, 64, generator=gen, dtype=torch.float64),
                                dim=1), dim=1) for _ in range(2))
    right, ref = triangle_areas(a, b, c), triangle_areas_reference_bug(a, b, c)
    torch.testing.assert_close(ref.diagonal(), right.diagonal())
    off = ~torch.eye(256, dtype=torch.bool)
    relative = float((ref - right)[off].abs().mean() / right[off].abs().mean())
    assert relative > 1.0  # measured 2.99: a different matrix, not rounding
    loss = triangle_loss([a, b, c], 10.0)
    assert float(triangle_loss([a, b, c], 10.0, reference_bug_compat=True)) != float(loss)


@given(vertex_sets(exp_range=1), st.booleans())
def test_runs_in_float32_under_bf16_autocast(vs, squared):
    vs = [v.float() for v in vs]
    plain = triangle_areas(*vs, squared=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = triangle_areas(*vs, squared=True)
        scores = triangle_scores(vs[1:], vs[0], squared=squared)
    assert mixed.dtype == scores.dtype == torch.float32
    assert torch.equal(mixed, plain)  # autocast off inside: the very same float32 ops


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("squared", [True, False])
def test_identical_vertices_give_finite_gradients(squared, dtype):
    """Small-integer entries: every dot product is exact, so the area is exactly 0."""
    v = torch.randint(-3, 4, (4, 6), generator=torch.Generator().manual_seed(0)).to(dtype)
    leaves = [v.clone().requires_grad_() for _ in range(3)]
    areas = triangle_areas(*leaves, squared=squared)
    loss = triangle_loss(leaves, 10.0, squared)
    (areas.sum() + loss).backward()
    for leaf in leaves:
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
    want = 0.0 if squared else 0.5 * math.sqrt(1e-8)  # exactly degenerate: on the floor
    torch.testing.assert_close(areas.diagonal().detach().double(),
                               torch.full((4,), want, dtype=torch.float64))


@settings(max_examples=20)
@given(vertex_sets(), st.booleans())
def test_float64_stays_float64(vs, squared):
    assert triangle_areas(*[v.double() for v in vs], squared=squared).dtype == torch.float64


def test_triangle_rejects_bad_input():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"anchor: expected shape \(B1, 4\)"):
        triangle_areas(torch.zeros(3, 5), x, x)
    with pytest.raises(ValueError, match=r"\(b, c\)\[1\]: shape \(2, 4\) differs"):
        triangle_areas(x, x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="exactly 2 context tensors"):
        triangle_scores([x, x, x], x)
    with pytest.raises(ValueError, match="exactly 3 modalities"):
        triangle_loss([x, x, x, x], 1.0)
    with pytest.raises(ValueError, match="needs as many rows as b"):
        triangle_areas_reference_bug(torch.zeros(2, 4), x, x)
    with pytest.raises(ValueError, match="eps: must be > 0"):
        triangle_areas(x, x, x, eps=-1.0)
