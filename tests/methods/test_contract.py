"""The contract battery: every registered method passes the same checks (timm-style).

A new method is tested the moment it is registered, on its default options, without a line
here; `SWITCHES` optionally adds the option switches that change what it computes.
"""

from __future__ import annotations

import dataclasses
import io
import math
import typing

import pytest
import torch

from robustlab.methods import METHODS, options_from
from robustlab.methods.base import Method
from robustlab.methods.encoders import Mlp, MLPEncoder
from robustlab.search_space import Choice, FloatRange, IntRange

NAMES = METHODS.names()
TARGETS = ("a", "b", "c")
# The behavioural checks run on every method's defaults and on the option switches that
# change what the loss or the scorer computes (ablations, negative schemes, extra views).
SWITCHES: dict[str, list[dict[str, object]]] = {
    "clip": [{"normalize": False}],
    "symile": [{"negatives": "n_squared"}, {"normalize": False}],
    "gated_symile": [{"num_negatives": 3}, {"neutral": "none"}, {"neutral": "ones"},
                     {"use_null": False}, {"gate_type": "softmax"}, {"mode": "matrix"},
                     {"mode": "matrix", "use_null": False}, {"hard_missing": True},
                     {"gate_type": "softmax", "hard_missing": True}],
    "comm": [{"pair_views": True}],
    "coral": [{"ortho_weight": 0.0}],
    "gram": [{"normalize": False}],
    "triangle": [{"squared": False}, {"normalize": False}, {"reference_bug_compat": True}],
}
VARIANTS = [(name, {}) for name in NAMES] + [
    (name, options) for name in NAMES for options in SWITCHES.get(name, [])
]


def variant_id(variant: tuple[str, dict[str, object]]) -> str:
    name, options = variant
    return "-".join([name, *(f"{k}={v}" for k, v in options.items())])


def test_registry_holds_the_seven_methods():
    assert NAMES == ["clip", "comm", "coral", "gated_symile", "gram", "symile", "triangle"]
    for name in NAMES:
        cls = METHODS.get(name)
        assert cls.name == name and cls.__module__ == f"robustlab.methods.{name}"


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_loss_forward_backward_finite(variant, build, batch):
    name, options = variant
    model = build(name, **options)
    out = model.loss(batch, torch.Generator().manual_seed(0))
    assert out["loss"].shape == () and torch.isfinite(out["loss"])
    for key, term in out.items():
        assert term.shape == () and torch.isfinite(term), key
        assert key == "loss" or not term.requires_grad, f"term {key} must be detached"
    out["loss"].backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"parameters without a gradient: {unused}"
    for n, p in model.named_parameters():
        assert torch.isfinite(p.grad).all(), n


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("target", TARGETS)
def test_retrieval_score_shapes(variant, target, build, batch, make_batch):
    name, options = variant
    model = build(name, **options).eval()
    pool = make_batch(seed=1, size=5)
    with torch.no_grad():
        query = model.encode_query(batch, target)
        cands = model.encode_candidates(target, pool.x[target])
        scores = model.score(target, query, cands)
    assert cands.shape[0] == 5 and cands.ndim == 2
    assert scores.shape == (batch.size, 5) and torch.isfinite(scores).all()


@pytest.mark.parametrize("name", NAMES)
def test_unknown_target_is_an_error(name, build, batch):
    model = build(name)
    with pytest.raises(ValueError, match="target must be one of"):
        model.encode_query(batch, "d")


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_features_and_encode_shapes(variant, build, batch):
    name, options = variant
    model = build(name, **options).eval()
    with torch.no_grad():
        feats = model.features(batch)
        emb = model.encode("b", batch.x["b"], batch.mask["b"])
    assert feats.shape[0] == batch.size and feats.ndim == 2 and torch.isfinite(feats).all()
    assert emb.shape[0] == batch.size and emb.ndim == 2 and torch.isfinite(emb).all()


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_deterministic_given_seeds(variant, build, batch):
    """Same build seed -> same weights; same generator seed -> same loss and gradients."""
    name, options = variant
    runs = []
    for _ in range(2):
        model = build(name, seed=3, **options)
        out = model.loss(batch, torch.Generator().manual_seed(11))
        out["loss"].backward()
        runs.append((model, out["loss"].detach()))
    (m1, l1), (m2, l2) = runs
    assert torch.equal(l1, l2)
    for (n, p), (_, q) in zip(m1.named_parameters(), m2.named_parameters(), strict=True):
        assert torch.equal(p, q) and torch.equal(p.grad, q.grad), n
    other = build(name, seed=4, **options)
    assert any(not torch.equal(p, q) for p, q in zip(m1.parameters(), other.parameters(),
                                                     strict=True))


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_global_rng_untouched(variant, build, batch):
    """Building and the loss draw only from their own seed / generator."""
    name, options = variant
    torch.manual_seed(123)
    before = torch.get_rng_state()
    model = build(name, **options)
    model.loss(batch, torch.Generator().manual_seed(0))["loss"].backward()
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_checkpoint_round_trip(variant, build, batch):
    name, options = variant
    model = build(name, seed=1, **options)
    with torch.no_grad():  # move off the initialisation so a fresh build cannot match by luck
        for p in model.parameters():
            p.add_(0.01)
    restored = build(name, seed=2, **options)
    saved = io.BytesIO()
    torch.save(model.state_dict(), saved)  # as train's checkpoints do
    saved.seek(0)
    restored.load_state_dict(torch.load(saved, weights_only=True))
    for m in (model, restored):
        m.eval()
    with torch.no_grad():
        q1, q2 = model.encode_query(batch, "a"), restored.encode_query(batch, "a")
        c1, c2 = (m.encode_candidates("a", batch.x["a"]) for m in (model, restored))
        assert torch.equal(model.score("a", q1, c1), restored.score("a", q2, c2))
        assert torch.equal(model.features(batch), restored.features(batch))
        g = [torch.Generator().manual_seed(5) for _ in range(2)]
        assert torch.equal(model.loss(batch, g[0])["loss"], restored.loss(batch, g[1])["loss"])


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_missing_rows_ignore_their_values(variant, build, batch):
    """A masked-out modality enters through the mask, never through its (garbage) values."""
    name, options = variant
    model = build(name, **options).eval()
    garbage = {m: v.clone() for m, v in batch.x.items()}
    for m, v in garbage.items():
        v[~batch.mask[m]] = 1e3
    dirty = dataclasses.replace(batch, x=garbage)
    with torch.no_grad():
        for target in TARGETS:
            cands = model.encode_candidates(target, batch.x[target])
            s_clean = model.score(target, model.encode_query(batch, target), cands)
            s_dirty = model.score(target, model.encode_query(dirty, target), cands)
            torch.testing.assert_close(s_clean, s_dirty)
        torch.testing.assert_close(model.features(batch), model.features(dirty))
        for target in TARGETS:  # a missing candidate: its mask, not its values
            mask = batch.mask[target]
            clean = model.encode_candidates(target, batch.x[target], mask)
            torch.testing.assert_close(
                clean, model.encode_candidates(target, dirty.x[target], mask))
            assert torch.allclose(clean[mask], model.encode_candidates(
                target, batch.x[target])[mask])  # present rows: as without a mask
            assert not torch.allclose(clean[~mask], model.encode_candidates(
                target, dirty.x[target])[~mask])  # ... and the mask is what decides
    g = [torch.Generator().manual_seed(0) for _ in range(2)]
    torch.testing.assert_close(model.loss(batch, g[0])["loss"], model.loss(dirty, g[1])["loss"])


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_fully_missing_context_modality(variant, build, make_batch):
    """A whole context modality missing (the `missing` condition at fraction 1): training and
    retrieval still produce finite numbers for every row."""
    name, options = variant
    batch = make_batch(2, missing={"b": list(range(8))})
    model = build(name, **options)
    out = model.loss(batch, torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    model.eval()
    with torch.no_grad():
        scores = model.score("a", model.encode_query(batch, "a"),
                             model.encode_candidates("a", batch.x["a"]))
    assert torch.isfinite(scores).all()


def _bad_value(hint: object) -> object:
    """A value of the wrong type or out of range for an option annotated `hint`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return "yes"
    if origin is typing.Literal:
        return "bogus"
    if hint is int or (type(None) in args and int in args):
        return -7
    if hint is float:
        return math.nan
    raise AssertionError(f"no bad value for {hint!r}: extend the battery")


@pytest.mark.parametrize("name", NAMES)
def test_options_validated_field_by_field(name):
    cls = METHODS.get(name).Options
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    default = cls()  # every field has a valid default
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        bad = _bad_value(hints[field.name])
        with pytest.raises(ValueError, match=rf"{cls.__name__}\.{field.name}: .*{bad!r}"):
            dataclasses.replace(default, **{field.name: bad})


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_suggests_the_closest(name):
    cls = METHODS.get(name).Options
    field = dataclasses.fields(cls)[0].name
    typo = field[:-1] + "x"
    with pytest.raises(ValueError, match=rf"methods\.v\.{typo}: unknown option .*did you mean "
                                         rf"'{field}'"):
        options_from(cls, {typo: 1}, where="methods.v")
    with pytest.raises(TypeError, match="options must be"):
        METHODS.get(name).build({}, {"a": 2, "b": 2, "c": 2}, Mlp(dim=4, depth=1))


@pytest.mark.parametrize("name", NAMES)
def test_search_space_keys_and_ranges_are_valid(name):
    cls = METHODS.get(name)
    space = cls.search_space()
    assert {"lr", "weight_decay"} <= set(space)
    option_fields = {f.name for f in dataclasses.fields(cls.Options)}
    for key, dist in space.items():
        assert isinstance(dist, FloatRange | IntRange | Choice), key
        assert key in {"lr", "weight_decay"} | option_fields, key
        if key in option_fields:  # both ends of the range are valid option values
            ends = dist.values if isinstance(dist, Choice) else (dist.low, dist.high)
            for value in ends:
                cls.Options(**{key: value})


@pytest.mark.parametrize("name", NAMES)
def test_same_backbone_for_every_method(name, build, dims, encoder):
    """Fair capacity: each modality's backbone is the shared encoder config, unchanged."""
    model = build(name)
    reference = sum(p.numel() for p in encoder.build(dims["a"]).parameters())
    backbones = [m for m in model.modules() if isinstance(m, MLPEncoder)]
    assert len(backbones) >= len(dims)
    first = {m.linears[0].in_features for m in backbones}
    assert first == set(dims.values())
    sizes = {sum(p.numel() for p in m.parameters()) for m in backbones
             if m.linears[0].in_features == dims["a"]}
    assert sizes == {reference}
    # the count a report shows is what the optimiser trains
    trained = sum(p.numel() for g in model.param_groups(1e-3, 0.0) for p in g["params"])
    assert model.num_parameters() == trained


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_param_groups_cover_every_parameter_once(variant, build):
    name, options = variant
    model = build(name, **options)
    groups = model.param_groups(1e-3, 0.1)
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen))
    assert set(seen) == {id(p) for p in model.parameters() if p.requires_grad}
    for g in groups:  # vectors and scalars (biases, norms, logit scale, embeddings): no decay
        if any(p.ndim < 2 for p in g["params"]):
            assert g["weight_decay"] == 0.0
    assert all(set(g) == {"params", "lr", "weight_decay"} for g in groups)


@pytest.mark.parametrize("name", NAMES)
def test_build_validates_dims(name, small_options, encoder):
    cls = METHODS.get(name)
    with pytest.raises(ValueError, match=r"dims\['b'\]: must be a positive int, got 0"):
        cls.build(small_options(name), {"a": 3, "b": 0, "c": 2}, encoder)


def test_method_base_is_abstract():
    with pytest.raises(TypeError):
        Method()  # type: ignore[abstract]
