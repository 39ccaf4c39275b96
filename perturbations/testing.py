"""The operator contract battery, public: `check_operator(cls, spec)` runs every rule the
built-in operators pass, so an operator in another package is held to the same contract.

    from perturbations.testing import check_operator     # or robustlab.testing
    def test_my_operator():
        check_operator(MyNoise, {"modality": "b", "severity": 3})

A broken rule raises `ContractError` (an AssertionError, so any test runner reports it) whose
message names every rule that broke and why; `err.failures` maps rule -> message. No pytest
import: plugin authors may use any runner. The case-level rules (`rule_*`) take one
`OperatorCase` and are what the built-ins' Hypothesis properties call with drawn data.

This module also holds the machinery the robustlab batteries share (`ContractError`,
`ensure`, `run_rules`); it imports numpy and this package only.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from perturbations.base import OPERATORS, Operator, Perturbed, check_operator_class
from perturbations.compose import Compose, build

__all__ = ["OPERATOR_RULES", "ContractError", "OperatorCase", "check_operator", "make_case"]


class ContractError(AssertionError):
    """Rules of a contract battery broke. `failures`: rule name -> what broke."""

    def __init__(self, subject: str, failures: Mapping[str, str]) -> None:
        self.subject = subject
        self.failures = dict(failures)
        lines = [f"{subject} breaks {len(self.failures)} rule(s) of the contract:"]
        lines += [f"  [{rule}] {message}" for rule, message in self.failures.items()]
        super().__init__("\n".join(lines))

    @property
    def rules(self) -> list[str]:
        return list(self.failures)


class RuleBroken(AssertionError):
    """Raised inside a rule by `ensure`; `run_rules` files it under the rule's name."""


def ensure(ok: object, message: str) -> None:
    """Like `assert ok, message`, but never stripped by `python -O`."""
    if not ok:
        raise RuleBroken(message)


def pick(rules: Sequence[str], wanted: Iterable[str] | None, kind: str) -> list[str]:
    """The rules to run: all of them, or the `wanted` subset (unknown names raise)."""
    if wanted is None:
        return list(rules)
    chosen = list(wanted)
    unknown = [r for r in chosen if r not in rules]
    if unknown:
        raise ValueError(f"unknown {kind} rule(s) {unknown} (valid: {', '.join(rules)})")
    return chosen


def run_rules(subject: str, checks: Mapping[str, Callable[[], None]]) -> None:
    """Run every check; raise one ContractError naming each rule that broke. An assertion
    is the rule's message; any other exception means the code under test raised."""
    failures: dict[str, str] = {}
    for rule, check in checks.items():
        try:
            check()
        except AssertionError as err:
            failures[rule] = str(err).strip() or "assertion failed"
        except Exception as err:  # the component itself raised: that breaks the rule too
            failures[rule] = f"raised {type(err).__name__}: {err}"
    if failures:
        raise ContractError(subject, failures)


# --- one case: an operator and the data it is applied to


@dataclass
class OperatorCase:
    op: Operator
    arrays: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    ids: np.ndarray
    seed: int

    def apply(self, **kw: Any) -> Perturbed:
        return self.op.apply(self.arrays, self.masks, self.ids, self.seed, **kw)


def make_case(op: Operator, *, n: int = 48, width: int = 16,
              modalities: Sequence[str] = ("a", "b", "c"), seed: int = 0) -> OperatorCase:
    """Seeded data: float32 rows on several scales, ~15 % of rows already missing (zeroed),
    unique ids that are unordered, spaced and partly negative."""
    rng = np.random.default_rng(seed)
    arrays = {m: (rng.standard_normal((n, width)) * rng.uniform(0.1, 5)).astype(np.float32)
              for m in modalities}
    masks = {m: rng.random(n) > 0.15 for m in modalities}
    for m in modalities:
        arrays[m][~masks[m]] = 0
    ids = rng.permutation(n).astype(np.int64) * 7 - 3 * n
    return OperatorCase(op, arrays, masks, ids, int(rng.integers(0, 2**31 - 1)))


def steps_of(op: Operator) -> tuple[Operator, ...]:
    return op.steps if isinstance(op, Compose) else (op,)


def _same(x: Perturbed, y: Perturbed, what: str) -> None:
    ensure(x.arrays.keys() == y.arrays.keys() and x.provenance.keys() == y.provenance.keys(),
           f"{what}: different modalities or provenance columns")
    for m in x.arrays:
        np.testing.assert_array_equal(x.arrays[m], y.arrays[m], strict=True,
                                      err_msg=f"{what}: arrays[{m!r}] differ")
        np.testing.assert_array_equal(x.masks[m], y.masks[m], strict=True,
                                      err_msg=f"{what}: masks[{m!r}] differ")
    for c in x.provenance:
        np.testing.assert_array_equal(x.provenance[c], y.provenance[c],
                                      err_msg=f"{what}: provenance[{c!r}] differs")


def _take(p: Perturbed, rows: np.ndarray) -> Perturbed:
    return Perturbed({m: v[rows] for m, v in p.arrays.items()},
                     {m: v[rows] for m, v in p.masks.items()},
                     {c: v[rows] for c, v in p.provenance.items()})


def _rows(case: OperatorCase, rows: np.ndarray) -> tuple[dict, dict, np.ndarray]:
    return ({m: v[rows] for m, v in case.arrays.items()},
            {m: v[rows] for m, v in case.masks.items()}, case.ids[rows])


# --- case-level rules (the Hypothesis properties of the built-ins call these)


def rule_deterministic_and_pure(case: OperatorCase) -> None:
    """The same seed gives bit-identical output, and the inputs are never mutated."""
    before = ({m: v.copy() for m, v in case.arrays.items()},
              {m: v.copy() for m, v in case.masks.items()}, case.ids.copy())
    _same(case.apply(), case.apply(), "two calls with the same seed")
    for m in case.arrays:
        ensure(np.array_equal(case.arrays[m], before[0][m]), f"input arrays[{m!r}] mutated")
        ensure(np.array_equal(case.masks[m], before[1][m]), f"input masks[{m!r}] mutated")
    ensure(np.array_equal(case.ids, before[2]), "input example_ids mutated")


def rule_order_invariant(case: OperatorCase, perm: np.ndarray | None = None) -> None:
    """Shuffled rows give the same per-example result (randomness is keyed by example id)."""
    if perm is None:
        perm = np.random.default_rng(case.seed).permutation(len(case.ids))
    arrays, masks, ids = _rows(case, perm)
    shuffled = case.op.apply(arrays, masks, ids, case.seed)
    _same(shuffled, _take(case.apply(), perm), "shuffled rows vs the same rows unshuffled")


def rule_exact_count(case: OperatorCase) -> None:
    """Exactly round(fraction · N) examples per step are touched; everything else is
    bit-identical, untouched modalities are the caller's arrays, provenance says "none"."""
    out, n = case.apply(), len(case.ids)
    for k, step in enumerate(steps_of(case.op), start=1):
        col = f"step{k}_perturbed" if isinstance(case.op, Compose) else "perturbed"
        want = round(step.fraction * n)  # type: ignore[attr-defined]
        got = int(out.provenance[col].sum())
        ensure(got == want, f"{col}: touched {got} of {n}, want round(fraction · N) = {want}")
    touched = out.provenance["perturbed"]
    for m in case.arrays:
        if m not in case.op.modalities:
            ensure(out.arrays[m] is case.arrays[m] and out.masks[m] is case.masks[m],
                   f"untouched modality {m!r} must be the caller's array (shared, not copied)")
        ensure(np.array_equal(out.arrays[m][~touched], case.arrays[m][~touched]),
               f"arrays[{m!r}] changed on rows that are not perturbed")
        ensure(np.array_equal(out.masks[m][~touched], case.masks[m][~touched]),
               f"masks[{m!r}] changed on rows that are not perturbed")
    for col, none in (("op", "none"), ("perturbed_modality", "none"), ("severity", 0)):
        ensure((out.provenance[col][~touched] == none).all(),
               f"provenance {col!r} of untouched rows must be {none!r}")


def rule_chunk_invariant(case: OperatorCase, cuts: Sequence[int] | None = None) -> None:
    """For a chunk-invariant operator: chunks given the split's selection equal the whole."""
    n = len(case.ids)
    if not case.op.chunk_invariant or n < 2:
        return
    whole, selected = case.apply(), case.op.select(case.ids, case.seed)
    cuts = sorted(set(cuts if cuts is not None else (n // 3, n // 2 + 1)))
    parts = []
    for rows in np.split(np.arange(n), cuts):
        arrays, masks, ids = _rows(case, rows)
        parts.append(case.op.apply(arrays, masks, ids, case.seed, selected=selected[..., rows]))
    joined = Perturbed(
        {m: np.concatenate([p.arrays[m] for p in parts]) for m in whole.arrays},
        {m: np.concatenate([p.masks[m] for p in parts]) for m in whole.masks},
        {c: np.concatenate([p.provenance[c] for p in parts]) for c in whole.provenance})
    _same(joined, whole, f"chunks {cuts} (given the whole split's selection) vs the whole")


def rule_nested_selection(op: Operator, ids: np.ndarray, seed: int) -> None:
    """A smaller fraction touches a subset of a larger one (same seed)."""
    small = dataclasses.replace(op, fraction=0.25).select(ids, seed)  # type: ignore[type-var]
    large = dataclasses.replace(op, fraction=0.6).select(ids, seed)  # type: ignore[type-var]
    ensure(not (small & ~large).any(), "fraction 0.25 selects examples fraction 0.6 does not")


def rule_seed_changes_selection(op: Operator, ids: np.ndarray, seed: int) -> None:
    """Another seed selects other examples (at fraction 0.5 of >= 30 ids)."""
    half = dataclasses.replace(op, fraction=0.5)  # type: ignore[type-var]
    ensure(not np.array_equal(half.select(ids, seed), half.select(ids, seed + 1)),
           f"seeds {seed} and {seed + 1} select the same examples")


# --- operator-level rules


def _make(cls: Any, spec: Mapping[str, Any]) -> Operator:
    return cls(**dict(spec))


def _interface(cls: Any, spec: Mapping[str, Any]) -> None:
    check_operator_class(cls)
    ensure(isinstance(getattr(cls, "name", None), str), f"{cls.__name__}.name is not set")


def _round_trip(cls: Any, spec: Mapping[str, Any]) -> None:
    op = _make(cls, spec)
    ensure(_make(cls, spec) == op and hash(_make(cls, spec)) == hash(op),
           "two operators built from the same fields are not equal with equal hashes")
    if _registered_as(cls):
        ensure(build({"op": cls.name, **spec}) == op, "build() from YAML values differs")
    field = dataclasses.fields(op)[0].name  # type: ignore[arg-type]
    try:
        setattr(op, field, getattr(op, field))
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise RuleBroken(f"assigning {field!r} did not raise: the operator is not frozen")
    ensure(op.describe().startswith(f"{cls.name}("), f"describe() {op.describe()!r} must "
           f"start with '{cls.name}('")
    ensure(op.level > 0 and math.isfinite(op.level), f"level must be > 0, got {op.level!r}")
    ensure(len(op.modalities) > 0, "modalities is empty")


def _registered_as(cls: Any) -> bool:
    """Whether OPERATORS resolves the class's name to the class itself."""
    name = getattr(cls, "name", None)
    return (isinstance(name, str) and name in OPERATORS and OPERATORS.problem(name) is None
            and OPERATORS.get(name) is cls)


def _severity_table(cls: Any, spec: Mapping[str, Any]) -> None:
    table = getattr(cls, "severities", None)
    if not table:
        return  # a fraction-only operator
    values = list(table.values())
    ensure(list(table) == [1, 2, 3, 4, 5], f"severities must have keys 1..5, got {list(table)}")
    ensure(all(a < b for a, b in itertools.pairwise(values)),
           f"severities must increase, got {values}")
    op = _make(cls, spec)
    severity = op.severity  # type: ignore[attr-defined]
    ensure(op.level == float(severity), f"level {op.level} != severity {severity}")
    ensure(op.amount == table[severity], "amount is not the table entry of the severity")  # type: ignore[attr-defined]


def _expect_error(cls: Any, spec: Mapping[str, Any], field: str, bad: object) -> None:
    try:
        _make(cls, {**spec, field: bad})
    except ValueError as err:
        ensure(f"{cls.name}.{field}" in str(err) and repr(bad) in str(err),
               f"{field}={bad!r}: the error must name '{cls.name}.{field}' and the value, "
               f"got {err}")
        return
    raise RuleBroken(f"{field}={bad!r} was accepted (it must raise ValueError, never wrap)")


def _validation(cls: Any, spec: Mapping[str, Any]) -> None:
    for bad in (0, 0.0, 1.5, -0.1, math.nan, True, "0.5", None):
        _expect_error(cls, spec, "fraction", bad)
    if getattr(cls, "severities", None):
        for bad in (0, 6, -1, True, 2.5, "3", None):
            _expect_error(cls, spec, "severity", bad)


def _raises(message: str, call: Callable[[], object]) -> None:
    try:
        call()
    except ValueError as err:
        ensure(message in str(err), f"expected an error containing {message!r}, got {err}")
        return
    raise RuleBroken(f"no error; expected one containing {message!r}")


def _bad_inputs(cls: Any, spec: Mapping[str, Any], width: int) -> None:
    op = _make(cls, spec)
    case = make_case(op, n=64, width=width)
    a, k, ids = case.arrays, case.masks, case.ids
    m = op.modalities[0]
    _raises(f"modality {m!r} not in the data",
            lambda: op.apply({x: v for x, v in a.items() if x != m}, k, ids, 0))
    _raises(f"masks[{m!r}] must be bool", lambda: op.apply(a, k | {m: k[m].astype(np.int8)},
                                                           ids, 0))
    _raises(f"arrays[{m!r}] must be float", lambda: op.apply(a | {m: a[m][:-1]}, k, ids, 0))
    _raises("selected must be a bool array of shape (64,)",
            lambda: op.apply(a, k, ids, 0, selected=np.ones(3, dtype=bool)))
    _raises("example_ids must be unique", lambda: op.apply(a, k, np.zeros(64, np.int64), 0))
    _raises("seed: must be an integer", lambda: op.apply(a, k, ids, 1.5))  # type: ignore[arg-type]


def _properties(cls: Any, spec: Mapping[str, Any], width: int,
                rule: Callable[[OperatorCase], None]) -> None:
    base = _make(cls, spec)
    for fraction in (1.0, 0.5, 0.3):
        op = dataclasses.replace(base, fraction=fraction)  # type: ignore[type-var]
        for n, seed in ((48, 0), (7, 1), (1, 2)):
            rule(make_case(op, n=n, width=width, seed=seed))


def _selection(cls: Any, spec: Mapping[str, Any],
               rule: Callable[[Operator, np.ndarray, int], None]) -> None:
    ids = np.random.default_rng(3).permutation(200).astype(np.int64) * 5 - 300
    for seed in (0, 17):
        rule(_make(cls, spec), ids, seed)


OPERATOR_RULES: dict[str, Callable[[Any, Mapping[str, Any], int], None]] = {
    "interface": lambda c, s, w: _interface(c, s),
    "round_trip": lambda c, s, w: _round_trip(c, s),
    "severity_table": lambda c, s, w: _severity_table(c, s),
    "validation": lambda c, s, w: _validation(c, s),
    "bad_inputs": _bad_inputs,
    "deterministic": lambda c, s, w: _properties(c, s, w, rule_deterministic_and_pure),
    "order_invariant": lambda c, s, w: _properties(c, s, w, rule_order_invariant),
    "exact_count": lambda c, s, w: _properties(c, s, w, rule_exact_count),
    "chunk_invariant": lambda c, s, w: _properties(c, s, w, rule_chunk_invariant),
    "nested_selection": lambda c, s, w: _selection(c, s, rule_nested_selection),
    "seed_changes_selection": lambda c, s, w: _selection(c, s, rule_seed_changes_selection),
}
"""Every rule of the operator battery, in the order `check_operator` runs them."""


def check_operator(cls: Any, spec: Mapping[str, Any], *, width: int = 16,
                   rules: Iterable[str] | None = None) -> None:
    """Run the operator battery on `cls` built from `spec` (its YAML fields, e.g.
    `{"modality": "b", "severity": 3}`; the data has modalities a, b, c of `width` columns).
    `rules` picks a subset of `OPERATOR_RULES`. Raises ContractError naming each broken rule.
    """
    chosen = pick(list(OPERATOR_RULES), rules, "operator")
    checks = {r: partial(OPERATOR_RULES[r], cls, spec, width) for r in chosen}
    run_rules(f"operator {getattr(cls, '__name__', cls)!s}", checks)
