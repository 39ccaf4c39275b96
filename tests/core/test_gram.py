"""Hypothesis properties of the GRAM volume, scores and loss (issue 11).

Volumes are compared through their squares, `max(det G, eps)`: the rounding error of a
determinant is bounded by a multiple of Π_p ‖v_p‖² (Hadamard's bound on det G), so one rtol
serves every scale, and the square root (which magnifies errors near zero) is left out.
"""

from __future__ import annotations

import math

import pytest
import torch
from core_strategies import RTOL, assert_close, dtypes, randn, seeds
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.core import gram_logits, gram_loss, gram_scores, gram_volumes

TINY = 1e-30  # an eps that never binds, for the scaling identities
scales = st.floats(0.01, 100.0)


@st.composite
def vector_sets(draw: st.DrawFn, min_k: int = 1, max_k: int = 3, min_d: int = 1,
                exp_range: int = 3, same_rows: bool = False) -> list[torch.Tensor]:
    """An anchor (B1, D) and k tuples' batches (B2, D); each tensor scaled by its own 10^e."""
    k = draw(st.integers(min_k, max_k))
    b1 = draw(st.integers(1, 5))
    b2 = b1 if same_rows else draw(st.integers(1, 5))
    d = draw(st.integers(max(min_d, 1), 10))
    dtype, seed = draw(dtypes), draw(seeds)
    exps = draw(st.lists(st.integers(-exp_range, exp_range), min_size=k + 1, max_size=k + 1))
    return [randn(seed + i, (b1 if i == 0 else b2, d), dtype, 10.0**e)
            for i, e in enumerate(exps)]


def _norm_product(anchor: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
    """Π_p ‖v_p‖² per (i, j) -> (B1, B2): bounds det G and its rounding error."""
    out = anchor.double().pow(2).sum(1)[:, None]
    for o in others:
        out = out * o.double().pow(2).sum(1)[None]
    return out


def _explicit_det(anchor: torch.Tensor, others: list[torch.Tensor]) -> torch.Tensor:
    """det of the explicitly built (B1, B2, k+1, k+1) Gram matrix, float64 -> (B1, B2)."""
    b1, b2 = anchor.shape[0], others[0].shape[0]
    vectors = torch.stack([anchor.double()[:, None].expand(b1, b2, -1),
                           *[o.double()[None].expand(b1, b2, -1) for o in others]], dim=2)
    return torch.linalg.det(vectors @ vectors.transpose(-1, -2))


def _assert_squares_close(got: torch.Tensor, want_sq: torch.Tensor, mag: torch.Tensor,
                          dtype: torch.dtype, factor: float = 8) -> None:
    """got² vs want_sq, to factor · rtol · (mag + the default eps, itself rounded in dtype)."""
    assert_close(got.double() ** 2, want_sq, mag + 1e-8, dtype, factor=factor)


@given(vector_sets(max_k=4))
def test_volume_equals_sqrt_det_of_the_explicit_gram_matrix(vecs):
    anchor, *others = vecs
    got = gram_volumes(anchor, *others)
    assert got.shape == (anchor.shape[0], others[0].shape[0])
    want_sq = _explicit_det(anchor, others).clamp_min(1e-8)
    _assert_squares_close(got, want_sq, _norm_product(anchor, others), anchor.dtype)


@settings(max_examples=50)
@given(vector_sets(min_k=1, max_k=3, exp_range=1), seeds)
def test_closed_form_gradient_equals_the_explicit_determinants(vecs, seed):
    """Float64, away from degeneracy (where the sqrt clamp would bind): d vol / d inputs."""
    vecs = [v.double() for v in vecs]
    anchor, *others = vecs
    det = _explicit_det(anchor, others)
    mag = _norm_product(anchor, others)
    weights = randn(seed, tuple(det.shape), torch.float64)
    grads = []
    for fn in (lambda v: gram_volumes(*v, eps=TINY), lambda v: _explicit_det(v[0], v[1:]).sqrt()):
        leaves = [v.clone().requires_grad_() for v in vecs]
        (fn(leaves) * weights).sum().backward()
        grads.append([x.grad for x in leaves])
    if (det < 1e-6 * mag).any():
        return  # a near-singular G: its sqrt's gradient is ill-conditioned in either form
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9 * float(want.abs().max()))


@given(vector_sets(max_k=3, same_rows=True), st.data())
def test_volume_symmetric_under_any_permutation(vecs, data):
    anchor, *others = vecs
    base = gram_volumes(anchor, *others)
    order = data.draw(st.permutations(range(len(vecs))))
    permuted = [vecs[i] for i in order]
    moved = gram_volumes(permuted[0], *permuted[1:])
    mag = _norm_product(anchor, others)
    # the tuple (v_0[i], …, v_k[i]) is the same set of vectors in any order: the diagonal
    _assert_squares_close(moved.diagonal(), base.diagonal().double() ** 2, mag.diagonal(),
                          anchor.dtype)
    if order[0] == 0:  # the anchor stays: every (i, j) entry is the same set of vectors
        _assert_squares_close(moved, base.double() ** 2, mag, anchor.dtype)


@given(vector_sets(min_k=1, max_k=3, same_rows=True), st.data())
def test_volume_zero_when_two_vectors_coincide_or_are_dependent(vecs, data):
    anchor, *others = vecs
    k = len(others)
    p = data.draw(st.integers(0, k - 1))
    coeffs = data.draw(st.lists(st.floats(-3, 3), min_size=k + 1, max_size=k + 1))
    if k == 1 or data.draw(st.booleans()):  # a multiple (or a copy) of the anchor
        sources = [anchor]
        coeffs[0] = data.draw(st.sampled_from([1.0, coeffs[0]]))
        diagonal = True  # tuple i holds anchor[i]: the (i, i) entries are degenerate
    else:  # a linear combination of the tuple's other vectors: every (i, j) is degenerate
        sources = [o for r, o in enumerate(others) if r != p]
        diagonal = False
    combo = sum((c * v for c, v in zip(coeffs, sources, strict=False)),
                start=torch.zeros_like(anchor))
    dependent = [*others[:p], combo, *others[p + 1:]]
    got = gram_volumes(anchor, *dependent)  # default eps = 1e-8: vol² >= 1e-8
    # the combination is rounded, so its bound uses Σ|c|‖v‖ as well as its own norm
    spread = sum(abs(c) * v.double().norm(dim=1) for c, v in zip(coeffs, sources, strict=False))
    bound = (spread + combo.double().norm(dim=1)) ** 2  # (B,)
    mag = _norm_product(anchor, [o for r, o in enumerate(dependent) if r != p]) * bound[None]
    vol_sq, mag = (got.diagonal(), mag.diagonal()) if diagonal else (got, mag)
    tol = 16 * RTOL[anchor.dtype] * (mag + 1e-8)  # the eps floor is rounded in dtype too
    assert (vol_sq.double() ** 2 <= 1e-8 + tol).all()


@given(vector_sets(min_k=1, max_k=1))
def test_volume_of_two_is_base_times_height(vecs):
    x, y = vecs
    x64, y64 = x.double(), y.double()
    # height of y over the line through x: ‖y − proj_x y‖ (per pair of rows)
    proj = (y64 @ x64.T).T[..., None] / x64.pow(2).sum(1)[:, None, None] * x64[:, None]
    height = (y64[None] - proj).norm(dim=-1)  # (B1, B2)
    area = x64.norm(dim=1)[:, None] * height
    got = gram_volumes(x, y, eps=TINY)
    _assert_squares_close(got, area**2, _norm_product(x, [y]), x.dtype)


@given(st.integers(1, 4), st.integers(0, 6), st.integers(1, 4), dtypes, seeds)
def test_volume_of_orthonormal_vectors_is_one(k, extra_d, rows, dtype, seed):
    d = k + 1 + extra_d
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(rows, d, k + 1, generator=gen, dtype=torch.float64))
    vecs = [q[:, :, p].to(dtype) for p in range(k + 1)]  # row r: k+1 orthonormal vectors
    got = gram_volumes(vecs[0], *vecs[1:])
    assert_close(got.diagonal(), torch.ones(rows), 1.0, dtype, factor=8)


@given(vector_sets(max_k=3), st.floats(-1e3, 1e3).filter(lambda x: abs(x) > 1e-3), st.data())
def test_volume_scales_with_the_absolute_factor(vecs, lam, data):
    p = data.draw(st.integers(0, len(vecs) - 1))
    scaled = [v * lam if i == p else v for i, v in enumerate(vecs)]
    got = gram_volumes(scaled[0], *scaled[1:], eps=TINY)
    base = gram_volumes(vecs[0], *vecs[1:], eps=TINY)
    mag = lam**2 * _norm_product(vecs[0], vecs[1:])
    _assert_squares_close(got, lam**2 * base.double() ** 2, mag, vecs[0].dtype, factor=16)


@given(vector_sets(min_k=1, max_k=3), st.integers(1, 7), seeds, st.integers(1, 4))
def test_scores_are_minus_the_volume_of_each_pair(vecs, num_cand, seed, chunk):
    context = vecs[1:]
    cand = randn(seed, (num_cand, context[0].shape[1]), context[0].dtype)
    scores = gram_scores(context, cand, chunk_size=chunk)  # (B, C)
    assert scores.shape == (context[0].shape[0], num_cand)
    for c in range(num_cand):
        want = gram_volumes(cand[c:c + 1], *context)[0]  # (B,)
        _assert_squares_close(-scores[:, c], want.double() ** 2,
                              _norm_product(cand[c:c + 1], context)[0], cand.dtype)


@given(vector_sets(min_k=1, max_k=3, exp_range=1), st.integers(1, 6), scales, seeds)
def test_retrieval_argmax_is_the_training_logits_argmax_for_any_scale(vecs, num_cand, scale,
                                                                      seed):
    """Retrieval picks what training rewards: argmax of −vol equals the argmax of the loss's
    logits exp(s)·(−vol) for any positive scale (up to ties within rounding)."""
    context = vecs[1:]
    cand = randn(seed, (num_cand, context[0].shape[1]), context[0].dtype)
    scores = gram_scores(context, cand)  # (B, C)
    logits = gram_logits(cand, context, scale).T  # (B, C): the candidate as the anchor
    picked = logits.argmax(dim=1)
    best = scores.max(dim=1).values
    chosen = scores.gather(1, picked[:, None])[:, 0]
    tol = 64 * RTOL[scores.dtype] * scores.abs().amax(dim=1) + 1e-4  # the eps floor of vol
    assert (chosen >= best - tol).all()


@given(vector_sets(min_k=1, max_k=3, same_rows=True), scales)
def test_loss_is_finite_and_nonnegative(vecs, scale):
    loss = gram_loss(vecs, scale)
    assert torch.isfinite(loss) and loss >= 0  # a cross-entropy is never negative


@given(st.integers(2, 5), st.integers(1, 7), st.integers(1, 8), scales, seeds, dtypes)
def test_identical_rows_give_log_batch(m, n, d, scale, seed, dtype):
    """Every row of each modality the same vector: all logits tie, so each of the 2·M
    cross-entropies is log N."""
    rows = [randn(seed + i, (1, d), dtype).expand(n, d) for i in range(m)]
    # the ties hold up to rounding of the volumes, which are at most Π‖v‖ (Hadamard)
    tol = 8 * RTOL[dtype] * (1 + scale * math.prod(float(r[0].norm()) for r in rows))
    assert abs(float(gram_loss(rows, scale)) - math.log(n)) <= tol


def test_loss_matches_the_symmetric_infonce_written_out():
    """Hand-built: explicit Gram determinants, both cross-entropy directions, 3 anchors."""
    n = 5
    x, y, z = (torch.nn.functional.normalize(randn(i, (n, 4), torch.float64), dim=1)
               for i in range(3))
    scale = 2.3
    ce = torch.nn.functional.cross_entropy
    total = 0.0
    for anchor, p, q in ((x, y, z), (y, x, z), (z, x, y)):
        logits = -scale * _explicit_det(anchor, [p, q]).clamp_min(1e-8).sqrt()  # (N, N)
        labels = torch.arange(n)
        total += 0.5 * float(ce(logits, labels) + ce(logits.T, labels))
    assert float(gram_loss([x, y, z], scale)) == pytest.approx(total / 3, rel=1e-12)


@given(vector_sets(min_k=1, max_k=3, exp_range=1))
def test_runs_in_float32_under_bf16_autocast(vecs):
    vecs = [v.float() for v in vecs]
    plain = gram_volumes(vecs[0], *vecs[1:])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = gram_volumes(vecs[0], *vecs[1:])
        scores = gram_scores(vecs[1:], vecs[0])
    assert mixed.dtype == scores.dtype == torch.float32
    assert torch.equal(mixed, plain)  # autocast off inside: the very same float32 ops


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_identical_vectors_give_finite_gradients(k, dtype):
    """Small-integer entries make every dot product, and so det G = 0, exact in any
    rounding: the tuple is exactly degenerate, where sqrt's own gradient is infinite."""
    v = torch.randint(-3, 4, (4, 6), generator=torch.Generator().manual_seed(0)).to(dtype)
    leaves = [v.clone().requires_grad_() for _ in range(k + 1)]
    vol = gram_volumes(leaves[0], *leaves[1:])
    loss = gram_loss(leaves, 10.0)
    (vol.sum() + loss).backward()
    for leaf in leaves:
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
    floor = torch.tensor(1e-8, dtype=dtype).sqrt()  # sqrt(eps) in the compute dtype
    assert torch.equal(vol.diagonal().detach(), floor.expand(4))


def test_half_precision_inputs_are_widened_and_float64_stays():
    x = randn(0, (3, 5), torch.float64)
    assert gram_volumes(x, x.roll(1, 0)).dtype == torch.float64
    assert gram_volumes(x.bfloat16(), x.roll(1, 0).bfloat16()).dtype == torch.float32


def test_gram_rejects_bad_input():
    x = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="others: need at least 1"):
        gram_volumes(x)
    with pytest.raises(ValueError, match=r"anchor: expected shape \(B1, 4\)"):
        gram_volumes(torch.zeros(3, 5), x)
    with pytest.raises(ValueError, match=r"others\[1\]: shape \(2, 4\) differs"):
        gram_volumes(x, x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="at most 5 tensors besides the anchor"):
        gram_volumes(x, *[x] * 6)
    with pytest.raises(ValueError, match="eps: must be > 0"):
        gram_volumes(x, x, eps=0.0)
    with pytest.raises(ValueError, match="chunk_size: must be an int >= 1"):
        gram_scores([x, x], x, chunk_size=0)
    with pytest.raises(ValueError, match="logit_scale: must be > 0"):
        gram_loss([x, x, x], 0.0)
