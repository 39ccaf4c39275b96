"""The method contract battery: `check_method(cls)` (re-exported by `robustlab.testing`).

Class rules (`method_case.py`) run once per class, on its default options; model rules (here)
run on a model built with the given option changes, and again with each option switch.
Models are tiny (widths 5, 6, 7, an MLP encoder of width 16, batches of 8 with missing rows),
so the whole battery takes seconds.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import torch

from perturbations.testing import RuleBroken, ensure, pick, run_rules
from robustlab.methods.base import Method, stacked_ids
from robustlab.methods.encoders import Mlp, MLPEncoder
from robustlab.methods.stacked import StackedMLP
from robustlab.testing import method_case as mc
from robustlab.testing.method_case import MethodCase


def _finite(x: torch.Tensor, what: str) -> None:
    ensure(bool(torch.isfinite(x).all()), f"{what} has non-finite values")


def rule_loss(case: MethodCase) -> None:
    """The loss dict: scalar finite terms, only "loss" carries the graph; backward gives every
    trainable parameter a finite gradient."""
    model = case.build()
    out = model.loss(case.standard_batch(), torch.Generator().manual_seed(0))
    ensure("loss" in out, f"the loss dict has no 'loss' entry (keys {sorted(out)})")
    for key, term in out.items():
        ensure(term.shape == (), f"term {key!r} has shape {tuple(term.shape)}, not a scalar")
        _finite(term, f"term {key!r}")
        ensure(key == "loss" or not term.requires_grad, f"term {key!r} must be detached")
    out["loss"].backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    ensure(not unused, f"parameters without a gradient: {unused}")
    for n, p in model.named_parameters():
        if p.grad is not None:
            _finite(p.grad, f"the gradient of {n}")


def rule_retrieval_shapes(case: MethodCase) -> None:
    """For every target: C candidates -> (C, D') representations, (B, C) finite scores; an
    unknown target is a ValueError."""
    model, batch = case.build().eval(), case.standard_batch()
    pool = case.batch(seed=1, size=5)
    with torch.no_grad():
        for target in case.modalities:
            query = model.encode_query(batch, target)
            cands = model.encode_candidates(target, pool.x[target])
            scores = model.score(target, query, cands)
            ensure(cands.ndim == 2 and cands.shape[0] == 5,
                   f"target {target}: candidates shape {tuple(cands.shape)}, want (5, D')")
            ensure(scores.shape == (batch.size, 5),
                   f"target {target}: scores shape {tuple(scores.shape)}, want ({batch.size}, 5)")
            _finite(scores, f"target {target}: scores")
    try:
        model.encode_query(batch, "no_such_modality")
    except ValueError as err:
        ensure("target must be one of" in str(err), f"unclear error for a bad target: {err}")
    else:
        raise RuleBroken("encode_query accepted an unknown target")


def rule_features_shapes(case: MethodCase) -> None:
    """Probe features (B, F) and one modality's embeddings (B, D), finite."""
    model, batch = case.build().eval(), case.standard_batch()
    m = case.modalities[1]
    with torch.no_grad():
        feats = model.features(batch)
        emb = model.encode(m, batch.x[m], batch.mask[m])
    for what, x in (("features", feats), (f"encode({m!r})", emb)):
        ensure(x.ndim == 2 and x.shape[0] == batch.size,
               f"{what} shape {tuple(x.shape)}, want ({batch.size}, ·)")
        _finite(x, what)


def rule_deterministic(case: MethodCase) -> None:
    """Same build seed -> same weights; same generator seed -> same loss and gradients;
    another build seed -> other weights."""
    batch, runs = case.standard_batch(), []
    for _ in range(2):
        model = case.build(seed=3)
        out = model.loss(batch, torch.Generator().manual_seed(11))
        out["loss"].backward()
        runs.append((model, out["loss"].detach()))
    (m1, l1), (m2, l2) = runs
    ensure(torch.equal(l1, l2), f"same seeds, different losses: {l1.item()} vs {l2.item()}")
    for (n, p), (_, q) in zip(m1.named_parameters(), m2.named_parameters(), strict=True):
        ensure(torch.equal(p, q), f"same build seed, different weights: {n}")
        same = p.grad is None if q.grad is None else p.grad is not None and torch.equal(p.grad,
                                                                                        q.grad)
        ensure(same, f"different gradients: {n}")
    other = case.build(seed=4)
    ensure(any(not torch.equal(p, q) for p, q in zip(m1.parameters(), other.parameters(),
                                                     strict=True)),
           "build seeds 3 and 4 give identical weights: the seed does nothing")


def rule_global_rng(case: MethodCase) -> None:
    """Building and the loss draw only from their own seed / generator."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    model = case.build()
    model.loss(case.standard_batch(), torch.Generator().manual_seed(0))["loss"].backward()
    ensure(torch.equal(before, torch.get_rng_state()), "the global torch RNG was used")


def rule_checkpoint(case: MethodCase) -> None:
    """state_dict -> torch.save -> load_state_dict into another build gives the same scores,
    features and loss."""
    batch = case.standard_batch()
    model = case.build(seed=1)
    with torch.no_grad():  # move off the initialisation so a fresh build cannot match by luck
        for p in model.parameters():
            p.add_(0.01)
    restored = case.build(seed=2)
    saved = io.BytesIO()
    torch.save(model.state_dict(), saved)  # as train's checkpoints do
    saved.seek(0)
    restored.load_state_dict(torch.load(saved, weights_only=True))
    model.eval(), restored.eval()
    t = case.modalities[0]
    with torch.no_grad():
        s1, s2 = (m.score(t, m.encode_query(batch, t), m.encode_candidates(t, batch.x[t]))
                  for m in (model, restored))
        ensure(torch.equal(s1, s2), "scores differ after a checkpoint round trip")
        ensure(torch.equal(model.features(batch), restored.features(batch)),
               "features differ after a checkpoint round trip")
        g = [torch.Generator().manual_seed(5) for _ in range(2)]
        ensure(torch.equal(model.loss(batch, g[0])["loss"], restored.loss(batch, g[1])["loss"]),
               "the loss differs after a checkpoint round trip")


def rule_missing_rows(case: MethodCase) -> None:
    """A masked-out modality enters through its mask, never through its (garbage) values:
    queries, features, the loss and missing candidates."""
    model, batch = case.build().eval(), case.standard_batch()
    garbage = {m: v.clone() for m, v in batch.x.items()}
    for m, v in garbage.items():
        v[~batch.mask[m]] = 1e3
    dirty = dataclasses.replace(batch, x=garbage)
    with torch.no_grad():
        for t in case.modalities:
            cands = model.encode_candidates(t, batch.x[t])
            clean = model.score(t, model.encode_query(batch, t), cands)
            ensure(torch.allclose(clean, model.score(t, model.encode_query(dirty, t), cands)),
                   f"target {t}: scores depend on the values of missing context rows")
            mask = batch.mask[t]
            c_clean = model.encode_candidates(t, batch.x[t], mask)
            ensure(torch.allclose(c_clean, model.encode_candidates(t, dirty.x[t], mask)),
                   f"missing {t} candidates depend on their values")
            ensure(torch.allclose(c_clean[mask], cands[mask]),
                   f"present {t} candidates change when a mask is passed")
            ensure(not torch.allclose(c_clean[~mask], model.encode_candidates(
                t, dirty.x[t])[~mask]), f"the mask of {t} candidates is ignored")
        ensure(torch.allclose(model.features(batch), model.features(dirty)),
               "features depend on the values of missing rows")
    g = [torch.Generator().manual_seed(0) for _ in range(2)]
    ensure(torch.allclose(model.loss(batch, g[0])["loss"], model.loss(dirty, g[1])["loss"]),
           "the loss depends on the values of missing rows")


def rule_missing_modality(case: MethodCase) -> None:
    """A whole context modality missing (`missing` at fraction 1): training and retrieval
    still give finite numbers for every row."""
    t, m = case.modalities[0], case.modalities[1]
    batch = case.batch(2, missing={m: list(range(8))})
    model = case.build()
    out = model.loss(batch, torch.Generator().manual_seed(0))
    _finite(out["loss"], f"the loss with {m} missing everywhere")
    out["loss"].backward()
    model.eval()
    with torch.no_grad():
        scores = model.score(t, model.encode_query(batch, t), model.encode_candidates(t,
                                                                                     batch.x[t]))
    _finite(scores, f"scores with {m} missing everywhere")


def rule_param_groups(case: MethodCase) -> None:
    """The optimiser's groups cover every trainable parameter once, vectors and scalars are
    not decayed, and num_parameters() (what the report shows) is what they train."""
    model = case.build()
    groups = model.param_groups(1e-3, 0.1)
    stacked = stacked_ids(model)
    seen = [id(p) for g in groups for p in g["params"]]
    ensure(len(seen) == len(set(seen)), "a parameter is in two groups")
    ensure(set(seen) == {id(p) for p in model.parameters() if p.requires_grad},
           "the groups do not cover exactly the trainable parameters")
    for g in groups:
        ensure(set(g) == {"params", "lr", "weight_decay"},
               f"group keys {sorted(g)}, want params, lr, weight_decay")
        if any(p.ndim - (id(p) in stacked) < 2 for p in g["params"]):  # one copy's ndim
            ensure(g["weight_decay"] == 0.0, "a group with vectors/scalars is weight-decayed")
    trained = sum(p.numel() for g in groups for p in g["params"])
    ensure(model.num_parameters() == trained,
           f"num_parameters() = {model.num_parameters()} but the optimiser trains {trained}")


def _backbones(model: torch.nn.Module) -> list[tuple[int, int]]:
    """(input width, parameter count) of every MLP backbone in `model`: each `MLPEncoder`,
    and each modality's copy in a `StackedMLP` (M backbones stored as one)."""
    out = []
    for m in model.modules():
        if isinstance(m, MLPEncoder):
            first: torch.nn.Linear = m.linears[0]  # type: ignore[assignment]
            out.append((first.in_features, sum(p.numel() for p in m.parameters())))
        elif isinstance(m, StackedMLP):
            out += [(m.in_dim, sum(p.numel() for p in m.parameters()) // m.count)] * m.count
    return out


def rule_shared_encoder(case: MethodCase) -> None:
    """Fair capacity: each modality's backbone is the shared encoder config, unchanged."""
    if not isinstance(case.encoder, Mlp):
        return  # the rule reads MLP backbones: it checks with the battery's default encoder
    model: Method = case.build()
    reference = sum(p.numel() for p in case.encoder.build(case.dims[case.modalities[0]])
                    .parameters())
    backbones = _backbones(model)
    ensure(len(backbones) >= len(case.dims),
           f"{len(backbones)} MLP backbones from the encoder config, want >= one per modality")
    widths = {width for width, _ in backbones}
    ensure(widths == set(case.dims.values()), f"backbone input widths {sorted(widths)}, "
                                               f"want the modality widths")
    sizes = {size for width, size in backbones if width == case.dims[case.modalities[0]]}
    ensure(sizes == {reference}, f"backbone sizes {sorted(sizes)} != the encoder's {reference}")


CLASS_RULES: dict[str, Callable[[MethodCase, Mapping[str, Any]], None]] = {
    "interface": lambda c, bad: mc.rule_interface(c),
    "options_validated": mc.rule_options_validated,
    "unknown_option": lambda c, bad: mc.rule_unknown_option(c),
    "search_space": lambda c, bad: mc.rule_search_space(c),
    "build_validates_dims": lambda c, bad: mc.rule_build_validates_dims(c),
}
"""Rules about the class, checked once on its default options."""

MODEL_RULES: dict[str, Callable[[MethodCase], None]] = {
    "loss": rule_loss,
    "retrieval_shapes": rule_retrieval_shapes,
    "features_shapes": rule_features_shapes,
    "deterministic": rule_deterministic,
    "global_rng": rule_global_rng,
    "checkpoint": rule_checkpoint,
    "missing_rows": rule_missing_rows,
    "missing_modality": rule_missing_modality,
    "param_groups": rule_param_groups,
    "shared_encoder": rule_shared_encoder,
}
"""Rules about a built model, checked for the options and each switch."""

METHOD_RULES = [*CLASS_RULES, *MODEL_RULES]


def check_method(
    cls: type, options: Mapping[str, Any] | None = None, *,
    switches: Sequence[Mapping[str, Any]] = (), dims: Mapping[str, int] | None = None,
    encoder: Any = None, bad_options: Mapping[str, Any] | None = None,
    rules: Iterable[str] | None = None,
) -> None:
    """Run the method battery on `cls`; raise ContractError naming every rule that broke.

    options:     changes to the default options for the model rules (e.g. small widths)
    switches:    further option changes that alter what the method computes (ablations);
                 each gets the model rules again, reported as `rule[key=value]`
    dims:        modality widths (default {"a": 5, "b": 6, "c": 7}); encoder: default Mlp(16)
    bad_options: an invalid value per option whose type the battery cannot invent one for
    rules:       a subset of METHOD_RULES (default: all)
    """
    chosen = pick(METHOD_RULES, rules, "method")
    base = MethodCase(cls, dict(options or {}), dict(dims or mc.DIMS), encoder or mc.ENCODER)
    bad = dict(bad_options or {})
    checks: dict[str, Callable[[], None]] = {
        r: partial(CLASS_RULES[r], base, bad) for r in chosen if r in CLASS_RULES}
    for switch in [{}, *switches]:
        case = dataclasses.replace(base, changes={**base.changes, **switch})
        tag = ",".join(f"{k}={v}" for k, v in switch.items())
        for r in (r for r in chosen if r in MODEL_RULES):
            checks[f"{r}[{tag}]" if tag else r] = partial(MODEL_RULES[r], case)
    run_rules(f"method {getattr(cls, '__name__', cls)!s}", checks)
