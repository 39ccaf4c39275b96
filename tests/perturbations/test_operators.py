"""Per-operator contracts: the registry battery, severity tables, validation, YAML building,
and the statistics each operator exists for."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import perturbations
from perturbations import OPERATORS, Compose, Operator, build
from perturbations.base import ModalityOperator, SeverityOperator
from perturbations.testing import OPERATOR_RULES, check_operator

SIMPLE = [n for n in OPERATORS.names() if n != "compose"]
SPECS: dict[str, dict[str, object]] = {
    "gaussian_noise": {"modality": "b", "severity": 3},
    "zero_entries": {"modality": "b", "severity": 3},
    "swap_entries": {"modality": "b", "severity": 3},
    "shift": {"modality": "b", "severity": 3, "channels": 2},
    "swap_modality": {"modality": "b", "fraction": 0.5},
    "signal_swap": {"modality": "b", "dims": [0, 4], "fraction": 0.5},
    "missing": {"modality": "b", "fraction": 0.5},
    "random_missing": {"among": ["a", "b", "c"], "fraction": 0.5},
    "one_of": {"choices": [{"op": "signal_swap", "modality": "b", "dims": [0, 4]},
                           {"op": "gaussian_noise", "modality": "c", "severity": 2}],
               "fraction": 0.5},
}


def data(n: int = 64, d: int = 8, seed: int = 0) -> tuple[dict, dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {m: rng.standard_normal((n, d)).astype(np.float32) for m in "abc"}
    return arrays, {m: np.ones(n, dtype=bool) for m in "abc"}, np.arange(n, dtype=np.int64)


def test_every_operator_has_a_spec_here() -> None:
    assert set(SIMPLE) == set(SPECS)  # a new operator must join the battery below
    assert build({"op": "one_of", **SPECS["one_of"]}).describe() == (
        "one_of(signal_swap(b, dims=(0, 4), fraction=1.0) | gaussian_noise(c, severity=2, "
        "fraction=1.0), fraction=0.5)")


@pytest.mark.parametrize("name", SIMPLE)
def test_registry_name_is_class_name_and_module(name: str) -> None:
    cls = OPERATORS.get(name)
    assert cls.name == name and cls.__module__ == f"perturbations.{name}"


@pytest.mark.parametrize("rule", list(OPERATOR_RULES))
@pytest.mark.parametrize("name", SIMPLE)
def test_operator_rule(name: str, rule: str) -> None:
    """The contract battery (`perturbations.testing.check_operator`, public for plugin
    authors): frozen and built from YAML values, a visible increasing severity table,
    validated fraction and severity, clear errors on bad inputs, determinism, order and
    chunk invariance, exact counts, nested selections, seeds that matter."""
    check_operator(OPERATORS.get(name), SPECS[name], rules=[rule])


def test_condition_ids_are_stable_strings() -> None:
    assert build({"op": "missing", "modality": "b", "fraction": 0.5}).describe() == \
        "missing(b, fraction=0.5)"
    assert build({"op": "gaussian_noise", "modality": "c", "severity": 2}).describe() == \
        "gaussian_noise(c, severity=2, fraction=1.0)"
    assert build(SPECS["signal_swap"] | {"op": "signal_swap"}).describe() == \
        "signal_swap(b, dims=(0, 4), fraction=0.5)"
    assert build(SPECS["random_missing"] | {"op": "random_missing"}).describe() == \
        "random_missing(a+b+c, drop=1, fraction=0.5)"
    both = build({"op": "compose", "steps": [{"op": "missing", "modality": "a"},
                                             {"op": "shift", "modality": "b", "severity": 1}]})
    assert both.describe() == "missing(a, fraction=1.0) + shift(b, severity=1, channels=1, " \
        "fraction=1.0)"
    assert isinstance(both, Compose) and both.op_names == "missing+shift" and both.level == 1.0


BAD_SEVERITY = st.one_of(st.integers().filter(lambda v: not 1 <= v <= 5), st.just(True),
                         st.floats(allow_nan=True), st.just("3"), st.none())
BAD_FRACTION = st.one_of(st.floats().filter(lambda v: not 0 < v <= 1), st.just(math.nan),
                         st.just(True), st.just("0.5"), st.none())


@given(st.sampled_from([n for n in SIMPLE if issubclass(OPERATORS.get(n), SeverityOperator)]),
       BAD_SEVERITY)
def test_out_of_range_severity_raises_naming_field_and_value(name: str, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"{name}\.severity: .*1\.\.5, got ") as err:
        build({"op": name, **SPECS[name], "severity": bad})
    assert repr(bad) in str(err.value)


@given(st.sampled_from(SIMPLE), BAD_FRACTION)
def test_out_of_range_fraction_raises_naming_field_and_value(name: str, bad: object) -> None:
    with pytest.raises(ValueError, match=rf"{name}\.fraction: must be a number in \(0, 1\]"):
        build({"op": name, **SPECS[name], "fraction": bad})


@pytest.mark.parametrize(("spec", "message"), [
    ({"op": "gaussian_noise", "modality": "", "severity": 1}, r"gaussian_noise\.modality"),
    ({"op": "missing", "modality": "none"}, r"missing\.modality"),
    ({"op": "gaussian_noise", "modality": "b", "severity": 1, "scale": 0}, r"\.scale: .*got 0"),
    ({"op": "signal_swap", "modality": "b", "dims": [4, 4]}, r"signal_swap\.dims: .*\[4, 4\]"),
    ({"op": "signal_swap", "modality": "b", "dims": [-1, 4]}, r"signal_swap\.dims"),
    ({"op": "shift", "modality": "b", "severity": 1, "channels": 0}, r"shift\.channels: .*got 0"),
    ({"op": "random_missing", "among": ["a"]}, r"random_missing\.among: .*\['a'\]"),
    ({"op": "random_missing", "among": ["a", "a"]}, r"random_missing\.among"),
    ({"op": "random_missing", "among": ["a", "b"], "drop": 2}, r"random_missing\.drop: .*1\.\.1"),
    ({"op": "compose", "steps": []}, r"compose\.steps"),
    ({"op": "one_of", "choices": [{"op": "missing", "modality": "a"}]}, r"one_of\.choices: "),
    ({"op": "one_of", "choices": [{"op": "missing", "modality": "a", "fraction": 0.5},
                                  {"op": "missing", "modality": "b"}]},
     r"one_of\.choices\[0\]\.fraction: must be 1\.0 .*got 0\.5"),
    ({"op": "one_of", "choices": [{"op": "missing", "modality": "a"},
                                  {"op": "mising", "modality": "b"}]},
     r"op\.choices\[1\]\.op: .*did you mean 'missing'"),
    ({"op": "gausian_noise", "modality": "b"}, r"op\.op: .*did you mean 'gaussian_noise'"),
    ({"op": "missing", "modality": "b", "fracton": 0.5}, r"unknown field\(s\) \['fracton'\]"),
    ({"op": "gaussian_noise", "modality": "b"}, r"severity"),
    ({"modality": "b"}, r"'op' key"),
])
def test_invalid_parameters_raise_clearly(spec: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(spec)


def test_compose_rejects_non_operators_and_flattens_nesting() -> None:
    with pytest.raises(ValueError, match=r"compose\.steps\[1\]: must be an operator"):
        Compose(("missing",))  # type: ignore[arg-type]
    a, b, c = (build({"op": "missing", "modality": m}) for m in "abc")
    assert Compose((Compose((a, b)), c)).steps == (a, b, c)


def test_width_dependent_parameters_are_checked_against_the_data() -> None:
    arrays, masks, ids = data(d=7)
    with pytest.raises(ValueError, match=r"signal_swap\.dims: stop 9 exceeds the width 7"):
        build({"op": "signal_swap", "modality": "b", "dims": [2, 9]}).apply(arrays, masks, ids, 0)
    with pytest.raises(ValueError, match=r"shift\.channels: width 7 .* channels=2"):
        build(SPECS["shift"] | {"op": "shift"}).apply(arrays, masks, ids, 0)


@given(st.floats(0.01, 1.0), st.floats(0.01, 1.0), st.sampled_from(SIMPLE))
def test_selection_is_nested_across_fractions(f1: float, f2: float, name: str) -> None:
    lo, hi = sorted((f1, f2))
    ids = np.arange(500, dtype=np.int64) * 3
    small = build({"op": name, **SPECS[name], "fraction": lo}).select(ids, 7)
    large = build({"op": name, **SPECS[name], "fraction": hi}).select(ids, 7)
    assert not (small & ~large).any()


def test_gaussian_noise_sigma_matches_the_table() -> None:
    arrays, masks, ids = data(n=4000, d=64)
    arrays["b"] *= 3.0  # the noise follows the feature scale
    for severity, sigma in OPERATORS.get("gaussian_noise").severities.items():  # type: ignore[attr-defined]
        out = build({"op": "gaussian_noise", "modality": "b", "severity": severity}).apply(
            arrays, masks, ids, 1)
        noise = (out.arrays["b"] - arrays["b"]) / arrays["b"].std(axis=1, keepdims=True)
        assert abs(noise.std() / sigma - 1) < 0.01 and abs(noise.mean()) < 0.01 * sigma
        z = noise.ravel() / sigma  # standard normal: check a tail quantile too
        assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.003
    fixed = build({"op": "gaussian_noise", "modality": "b", "severity": 4, "scale": 2.0})
    noise = fixed.apply(arrays, masks, ids, 1).arrays["b"] - arrays["b"]
    assert abs(noise.std() / 2.0 - 1) < 0.01


def test_zero_entries_rate_matches_the_table() -> None:
    arrays, masks, ids = data(n=4000, d=64)
    for severity, p in OPERATORS.get("zero_entries").severities.items():  # type: ignore[attr-defined]
        out = build({"op": "zero_entries", "modality": "a", "severity": severity}).apply(
            arrays, masks, ids, 2)
        assert abs((out.arrays["a"] == 0).mean() - p) < 0.005
        assert out.masks["a"].all()  # present, only entries lost


def test_swap_entries_moves_the_table_share_and_shift_lags_by_the_table() -> None:
    arrays, masks, ids = data(n=2000, d=128)
    op = build({"op": "swap_entries", "modality": "a", "severity": 5})
    moved = (op.apply(arrays, masks, ids, 3).arrays["a"] != arrays["a"]).mean()
    assert 0.35 < moved <= 0.5  # ≤ p: repeated or i<->i transpositions move fewer
    shift = build({"op": "shift", "modality": "a", "severity": 3, "channels": 2})  # T=64, lag 13
    out = shift.apply(arrays, masks, ids, 3).arrays["a"].reshape(-1, 2, 64)
    x = arrays["a"].reshape(-1, 2, 64)
    forward = np.all(out[:, :, 13:] == x[:, :, :-13], axis=(1, 2))
    backward = np.all(out[:, :, :-13] == x[:, :, 13:], axis=(1, 2))
    assert (forward ^ backward).all() and 0.45 < forward.mean() < 0.55


def test_random_missing_spreads_evenly_over_modalities() -> None:
    arrays, masks, ids = data(n=6000)
    out = build({"op": "random_missing", "among": ["a", "b", "c"], "fraction": 0.5}).apply(
        arrays, masks, ids, 4)
    values, counts = np.unique(out.provenance["perturbed_modality"], return_counts=True)
    assert dict(zip(values, counts, strict=True))["none"] == 3000
    assert all(abs(c - 1000) < 100 for v, c in zip(values, counts, strict=True) if v != "none")


def test_package_is_standalone() -> None:
    code = "import sys, perturbations; print(sorted(m for m in sys.modules if 'robustlab' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in Path(perturbations.__file__).parent.glob("*.py"):  # torch-only modules too
        tree = ast.parse(path.read_text())
        imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in imported if m.split(".")[0] == "robustlab"], path


def test_operator_base_classes_are_abstract() -> None:
    for cls in (Operator, ModalityOperator, SeverityOperator):
        with pytest.raises(TypeError):
            cls(modality="a")  # type: ignore[abstract, call-arg]


def test_one_of_reproduces_the_xnor_corruption() -> None:
    arrays, masks, ids = data(n=2000, d=16)
    op = build({"op": "one_of", "fraction": 0.3, "choices": [
        {"op": "signal_swap", "modality": m, "dims": [0, 8]} for m in ("b", "c")]})
    out = op.apply(arrays, masks, ids, 5)
    prov = out.provenance
    assert prov["perturbed"].sum() == 600 and set(prov["op"]) == {"signal_swap", "none"}
    for m, other in (("b", "c"), ("c", "b")):
        rows = prov["perturbed_modality"] == m
        assert 240 < rows.sum() < 360  # 50/50 between b and c
        assert (out.arrays[m][rows, :8] != arrays[m][rows, :8]).any(axis=1).all()
        np.testing.assert_array_equal(out.arrays[m][rows, 8:], arrays[m][rows, 8:])
        np.testing.assert_array_equal(out.arrays[other][rows], arrays[other][rows])
    np.testing.assert_array_equal(out.arrays["a"], arrays["a"])


def test_an_empty_call_gives_empty_typed_provenance() -> None:
    arrays, masks, ids = data(n=0)
    op = Compose(tuple(build({"op": name, **spec}) for name, spec in SPECS.items()))
    out = op.apply(arrays, masks, ids, 0)
    assert all(v.shape == (0,) for v in out.provenance.values())
    assert out.provenance["op"].dtype.kind == "U" and out.provenance["perturbed"].dtype == bool
