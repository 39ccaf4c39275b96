"""CoMM and COrAL: views, masking, loss terms, retrieval geometry, probe features."""

from __future__ import annotations

import itertools

import pytest
import torch

from robustlab.data.batch import Batch
from robustlab.methods import METHODS
from robustlab.methods.coral import masked_pair
from robustlab.methods.fusion import augment, noise_scale, nt_xent

from .conftest import ENCODER, small_options


def _loss(model, batch, seed=0):
    return model.loss(batch, torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- shared pieces


def test_nt_xent_prefers_aligned_views():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(16, 8, generator=g)
    aligned = nt_xent(z, z + 0.01 * torch.randn(16, 8, generator=g), 0.1)
    shuffled = nt_xent(z, z[torch.randperm(16, generator=g)], 0.1)
    assert float(aligned) < 0.1 < float(shuffled)


def test_augment_noise_scale_and_masking():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 3, generator=g) * torch.tensor([1.0, 10.0, 0.0])
    present = torch.ones(4000, dtype=torch.bool)
    noisy = augment(x, noise_scale(x, present, 0.5), 0.0, g) - x
    torch.testing.assert_close(noisy.std(dim=0), torch.tensor([0.5, 5.0, 0.0]), rtol=0.05,
                               atol=1e-6)  # noise relative to each feature's spread
    ones = torch.ones(4000, 3)
    masked = augment(ones, noise_scale(ones, present, 0.0), 0.3, g)
    assert abs(float((masked == 0).float().mean()) - 0.3) < 0.02
    half = present.clone()
    half[::2] = False  # the missing rows (zeros) must not set the scale
    torch.testing.assert_close(noise_scale(x * half[:, None], half, 0.5)[0],
                               torch.tensor([0.5, 5.0, 0.0]), rtol=0.05, atol=1e-6)


def test_noise_scales_of_stacked_modalities_are_each_modalitys():
    """Modalities of one width get their noise scales in one stacked pass (issue 24): the
    same numbers, to the bit, as each modality's alone, with missing rows (and a modality
    missing everywhere: scale 0)."""
    g = torch.Generator().manual_seed(3)
    x = {m: torch.randn(64, 128, generator=g) for m in "abc"}
    mask = {m: torch.rand(64, generator=g) < 0.8 for m in "abc"}
    mask["c"][:] = False
    x = {m: v * mask[m][:, None] for m, v in x.items()}

    model = METHODS.get("comm").build(small_options("comm", noise_std=0.1),
                                      dict.fromkeys("abc", 128), ENCODER)
    scales = model.noise_scales(Batch(x=x, mask=mask, index=torch.arange(64)))
    for m in "abc":
        assert torch.equal(scales[m], noise_scale(x[m], mask[m], 0.1))
    assert not scales["c"].any()


# ---------------------------------------------------------------- CoMM


def test_comm_views(build, batch, make_batch):
    out = _loss(build("comm", pair_views=False), batch)  # the paper's loss
    assert set(out) == {"loss", "view_a", "view_b", "view_c", "view_full"}
    torch.testing.assert_close(
        out["loss"].detach(), torch.stack([out[k] for k in out if k != "loss"]).mean()
    )
    pairs = _loss(build("comm", pair_views=True), batch)
    assert set(pairs) == set(out) | {"view_a_b", "view_a_c", "view_b_c"}
    torch.testing.assert_close(
        pairs["loss"].detach(), torch.stack([pairs[k] for k in pairs if k != "loss"]).mean()
    )
    assert set(_loss(build("comm"), batch)) == set(pairs)  # auto, unresolved: retrieval
    gone = _loss(build("comm"), make_batch(1, missing={"c": list(range(8))}))
    assert "view_c" not in gone and torch.isfinite(gone["loss"])  # no rows hold c: no term


@pytest.mark.parametrize("name", ["comm", "coral"])
def test_pair_views_auto_follows_the_protocol(name):
    """`auto` trains the views retrieval scores for retrieval and keeps the paper's loss for
    the probe; an explicit value is never changed; other methods' options pass through."""
    cls = METHODS.get(name)
    auto = cls.Options()
    assert auto.pair_views == "auto"
    assert cls.for_protocol(auto, "retrieval").pair_views is True
    assert cls.for_protocol(auto, "probe").pair_views is False
    for fixed in (True, False):
        for protocol in ("retrieval", "probe"):
            options = cls.Options(pair_views=fixed)
            assert cls.for_protocol(options, protocol) is options
    with pytest.raises(ValueError, match="protocol: must be one of"):
        cls.for_protocol(auto, "linear")
    with pytest.raises(ValueError, match="pair_views"):
        cls.Options(pair_views="yes")
    with pytest.raises(ValueError, match="pair_views"):
        cls.Options(pair_views=1)
    clip = METHODS.get("clip")
    assert clip.for_protocol(clip.Options(), "probe") == clip.Options()


def test_comm_terms_cross_the_two_views(build, make_batch):
    """Each view term is ½[ℓ(Z'_m, Z''_full) + ℓ(Z''_m, Z'_full)]: a view of one augmented
    copy against the full view of the *other* copy, with the same draws as the loss."""
    model = build("comm")
    batch = make_batch(3)  # every modality present
    out = _loss(model, batch, seed=9)
    g = torch.Generator().manual_seed(9)
    t1, t2 = model.augmented_tokens(batch, g), model.augmented_tokens(batch, g)
    tau, everything = model.options.temperature, dict(batch.mask)

    def z(tokens, keep):
        return model.head(model.fusion.fuse(tokens, keep))

    for m in ("a", "b", "c"):
        only = {m: batch.mask[m]}
        expected = (nt_xent(z(t1, only), z(t2, everything), tau)
                    + nt_xent(z(t2, only), z(t1, everything), tau)) / 2
        torch.testing.assert_close(out[f"view_{m}"], expected.detach())
    full = (nt_xent(z(t1, everything), z(t2, everything), tau)
            + nt_xent(z(t2, everything), z(t1, everything), tau)) / 2
    torch.testing.assert_close(out["view_full"], full.detach())


@pytest.mark.parametrize("name", ["comm", "coral"])
def test_fusion_retrieval_scores_are_cosines(name, build, batch):
    model = build(name).eval()
    with torch.no_grad():
        q = model.encode_query(batch, "c")
        cands = model.encode_candidates("c", batch.x["c"])
        scores = model.score("c", q, cands)
        only_c = model.project(model.fusion.fuse(model.fusion.tokenize({"c": batch.x["c"]}),
                                                 {"c": torch.ones(8, dtype=torch.bool)}))
    assert scores.abs().max() <= 1 + 1e-5
    torch.testing.assert_close(cands, only_c)  # a candidate is Z(only the target)


def test_comm_probe_features_are_z_full(build, batch):
    model = build("comm").eval()
    with torch.no_grad():
        feats = model.features(batch)
    assert feats.shape == (8, model.options.fusion_dim)


# ---------------------------------------------------------------- COrAL


def test_coral_masks_two_different_modalities_covering_every_pair():
    seen = set()
    for seed in range(200):
        first, second = masked_pair(3, torch.Generator().manual_seed(seed))
        assert first != second and {first, second} <= {0, 1, 2}
        seen.add((first, second))
    assert seen == set(itertools.permutations(range(3), 2))


def test_coral_asymmetric_mask_drops_the_ratio_of_one_modality(build, make_batch):
    model = build("coral", mask_ratio=0.75)
    batch = make_batch(0, size=8)
    big = type(batch)(x={m: v.repeat(250, 1) for m, v in batch.x.items()},
                      mask={m: v.repeat(250) for m, v in batch.mask.items()},
                      index=torch.arange(2000))
    keep = model.masked_keep(big, "b", torch.Generator().manual_seed(0))
    assert keep["a"].all() and keep["c"].all()
    assert keep["b"].shape == (2000, model.options.num_tokens)
    assert abs(float(keep["b"].float().mean()) - 0.25) < 0.03
    none = build("coral", mask_ratio=0.0).masked_keep(big, "b", torch.Generator())
    assert none["b"].all()


def test_coral_loss_terms_and_ortho_weight(build, batch):
    base = build("coral", ortho_weight=0.0, pair_views=False)  # the published loss
    out0 = _loss(base, batch)
    assert set(out0) == {"loss", "shared", "unique_a", "unique_b", "unique_c", "ortho"}
    assert 0.0 <= float(out0["ortho"]) <= 12.0  # 6 pairs × 2 views, each a mean cos²
    heavy = build("coral", ortho_weight=7.0, pair_views=False)
    heavy.load_state_dict(base.state_dict())
    out7 = _loss(heavy, batch)
    torch.testing.assert_close(out7["loss"].detach(), out0["loss"].detach() + 7.0 * out0["ortho"])


def test_coral_pair_views_add_the_mean_of_the_retrieval_view_terms(build, batch, make_batch):
    """With pair views, COrAL's loss is the published loss plus the mean of six CoMM-style
    terms (each modality alone, each pair, against the other copy's full shared view)."""
    paper = build("coral", pair_views=False)
    pairs = build("coral", pair_views=True)
    pairs.load_state_dict(paper.state_dict())
    out0, out1 = _loss(paper, batch, seed=4), _loss(pairs, batch, seed=4)  # the same draws
    views = {"view_a", "view_b", "view_c", "view_a_b", "view_a_c", "view_b_c"}
    assert set(out1) == set(out0) | views
    for name in out0:
        if name != "loss":
            torch.testing.assert_close(out1[name], out0[name])  # the published terms unchanged
    added = torch.stack([out1[v] for v in sorted(views)]).mean()
    torch.testing.assert_close(out1["loss"].detach(), out0["loss"].detach() + added)
    grads = torch.autograd.grad(pairs.loss(batch, torch.Generator().manual_seed(4))["loss"],
                                list(pairs.fusion.transformer.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
    gone = _loss(pairs, make_batch(1, missing={"c": list(range(8))}))
    assert "view_c" not in gone and "view_a_b" in gone and torch.isfinite(gone["loss"])


def test_coral_probe_features_are_shared_and_unique(build, batch):
    model = build("coral").eval()
    width = model.options.fusion_dim
    with torch.no_grad():
        feats = model.features(batch)
        shared = model.full(batch)
    assert feats.shape == (8, width + 3 * (width // 2))
    torch.testing.assert_close(feats[:, :width], shared)
