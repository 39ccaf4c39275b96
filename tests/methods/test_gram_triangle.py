"""GRAM and TRIANGLE: the methods wire the core math as DESIGN §4 says (issue 11)."""

from __future__ import annotations

import math

import pytest
import torch

from robustlab.core import gram_loss, gram_volumes, triangle_areas, triangle_loss
from robustlab.methods import METHODS
from robustlab.methods.encoders import Mlp


def _embeddings(model, batch):
    with torch.no_grad():
        return model.embed_batch(batch)


def _scores(model, batch, target):
    model.eval()
    with torch.no_grad():
        query = model.encode_query(batch, target)
        cands = model.encode_candidates(target, batch.x[target])
        return query, cands, model.score(target, query, cands)


def test_gram_loss_wires_core_with_one_term_per_anchor(build, batch):
    model = build("gram")
    out = model.loss(batch, torch.Generator().manual_seed(0))
    expected = gram_loss(_embeddings(model, batch), model.logit_scale())
    torch.testing.assert_close(out["loss"].detach(), expected.detach())
    assert set(out) == {"loss", "anchor_a", "anchor_b", "anchor_c"}
    anchors = torch.stack([out[f"anchor_{m}"] for m in "abc"])
    torch.testing.assert_close(anchors.mean(), expected.detach())


@pytest.mark.parametrize("target", ["a", "b", "c"])
def test_gram_score_is_minus_the_volume(target, build, batch):
    query, cands, scores = _scores(build("gram"), batch, target)
    ctx = [query[m] for m in "abc" if m != target]
    torch.testing.assert_close(scores, -gram_volumes(cands, *ctx).T)  # (B, C)
    assert (scores < 0).all()


@pytest.mark.parametrize("options", [{}, {"squared": False}, {"reference_bug_compat": True},
                                     {"squared": False, "reference_bug_compat": True}])
def test_triangle_loss_wires_core(options, build, batch):
    model = build("triangle", **options)
    out = model.loss(batch, torch.Generator().manual_seed(0))
    expected = triangle_loss(_embeddings(model, batch), model.logit_scale(),
                             options.get("squared", True),
                             reference_bug_compat=options.get("reference_bug_compat", False))
    torch.testing.assert_close(out["loss"].detach(), expected.detach())
    assert set(out) == {"loss", "anchor_a", "anchor_b", "anchor_c"}


def test_triangle_reference_bug_changes_training_only(build, batch):
    """The defect is in the reference's training loss; its retrieval scorer is right."""
    right, compat = build("triangle"), build("triangle", reference_bug_compat=True)
    g = [torch.Generator().manual_seed(0) for _ in range(2)]
    assert not torch.allclose(right.loss(batch, g[0])["loss"], compat.loss(batch, g[1])["loss"])
    torch.testing.assert_close(_scores(right, batch, "a")[2], _scores(compat, batch, "a")[2])


@pytest.mark.parametrize("squared", [True, False])
def test_triangle_score_is_minus_the_area(squared, build, batch):
    query, cands, scores = _scores(build("triangle", squared=squared), batch, "b")
    torch.testing.assert_close(scores, -triangle_areas(cands, query["a"], query["c"],
                                                       squared=squared).T)


@pytest.mark.parametrize("name", ["gram", "triangle"])
@pytest.mark.parametrize("normalize", [True, False])
def test_normalize_option(name, normalize, build, batch):
    norms = torch.linalg.vector_norm(_embeddings(build(name, normalize=normalize), batch)[0],
                                     dim=1)
    assert torch.allclose(norms, torch.ones_like(norms)) == normalize


def test_gram_takes_two_modalities_and_triangle_needs_three():
    encoder = Mlp(dim=8, depth=1, hidden=8)
    dims = {"a": 3, "b": 4}
    gram = METHODS.get("gram").build(METHODS.get("gram").Options(), dims, encoder)
    x = {"a": torch.randn(5, 3), "b": torch.randn(5, 4)}
    emb = [gram.encode(m, x[m]) for m in dims]
    assert torch.isfinite(gram_loss(emb, gram.logit_scale()))  # two vectors: an area
    tri = METHODS.get("triangle")
    with pytest.raises(ValueError, match="dims: triangle needs exactly three modalities"):
        tri.build(tri.Options(), dims, encoder)


def test_logit_scale_is_learnable_and_clamped(build, batch):
    for name in ("gram", "triangle"):
        model = build(name)
        with torch.no_grad():
            model.logit_scale.log_scale.fill_(10.0)  # exp(10) >> 100
        assert float(model.logit_scale().detach()) == pytest.approx(100.0)
        model = build(name)
        model.loss(batch)["loss"].backward()
        assert model.logit_scale.log_scale.grad is not None
        assert float(model.logit_scale.log_scale.grad) != 0.0


@pytest.mark.parametrize("name", ["gram", "triangle"])
def test_logit_scale_starts_at_the_references_zero_inside_its_searched_range(name, build):
    """The reference's configs start GRAM and TRIANGLE at logit_scale_init 0 (a scale of 1;
    from CLIP's log(1/0.07) GRAM learns nothing on synthetic_xnor), and their declared range
    holds 0 inside it, not on its edge."""
    cls = METHODS.get(name)
    assert cls.Options().logit_scale_init == 0.0
    assert float(build(name).logit_scale().detach()) == pytest.approx(1.0)
    space = cls.search_space()["logit_scale_init"]
    assert space.low < 0.0 < space.high
    assert space.low == pytest.approx(-math.log(100)) and space.high == pytest.approx(
        math.log(100))
    assert float(build(name, logit_scale_init=1.5).logit_scale().detach()) == pytest.approx(
        math.exp(1.5))
