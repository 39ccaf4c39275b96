"""`check_operator` itself: every rule fails on an operator broken in exactly that way, naming
the rule, and passes on the built-in it was broken from."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from perturbations import Perturbed
from perturbations.base import ModalityOperator, select_examples
from perturbations.gaussian_noise import GaussianNoise
from perturbations.testing import OPERATOR_RULES, ContractError, check_operator

SPEC = {"modality": "b", "severity": 3}


@dataclass(frozen=True, kw_only=True)
class Unfinished(ModalityOperator):
    name: ClassVar[str] = "unfinished"  # no perturb_rows


@dataclass(frozen=True, kw_only=True)
class Misnamed(GaussianNoise):
    def describe(self, *, with_fraction: bool = True) -> str:
        return "noise" + super().describe(with_fraction=with_fraction)[len(self.name):]


@dataclass(frozen=True, kw_only=True)
class Decreasing(GaussianNoise):
    severities: ClassVar[dict[int, float]] = {1: 2.0, 2: 1.0, 3: 0.5, 4: 0.25, 5: 0.1}


@dataclass(frozen=True, kw_only=True)
class Clamps(GaussianNoise):
    def __post_init__(self) -> None:  # wraps a bad fraction into range instead of raising
        fraction = self.fraction if isinstance(self.fraction, float) else 1.0
        object.__setattr__(self, "fraction", min(max(fraction, 0.01), 1.0))
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class Forgiving(GaussianNoise):
    def apply(self, arrays: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray],
              example_ids: np.ndarray, seed: int, *, selected: Any = None) -> Perturbed:
        if self.modality not in arrays:  # silently does nothing
            n = len(example_ids)
            return Perturbed(dict(arrays), dict(masks), self.provenance(np.zeros(n, bool)))
        return super().apply(arrays, masks, example_ids, seed, selected=selected)


@dataclass(frozen=True, kw_only=True)
class GlobalRandom(GaussianNoise):
    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        x[rows] += np.random.default_rng().standard_normal((len(rows), x.shape[1]))


@dataclass(frozen=True, kw_only=True)
class ByPosition(GaussianNoise):
    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        x[rows] += rows[:, None].astype(np.float32)  # the row's position, not its id


@dataclass(frozen=True, kw_only=True)
class TouchesAll(GaussianNoise):
    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        x += 1.0  # every row, selected or not


@dataclass(frozen=True, kw_only=True)
class ByCallSize(GaussianNoise):
    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        x[rows] += float(x.shape[0])  # depends on how many rows the call holds


@dataclass(frozen=True, kw_only=True)
class FractionKeyed(GaussianNoise):
    def select(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        return select_examples(example_ids, seed, self.fraction, self.name, self.modality,
                               repr(self.fraction))  # a new draw per fraction: not nested


@dataclass(frozen=True, kw_only=True)
class SeedIgnored(GaussianNoise):
    def select(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        return select_examples(example_ids, 0, self.fraction, self.name, self.modality)


BROKEN: dict[str, tuple[type, str]] = {
    "interface": (Unfinished, "Unfinished does not implement the abstract method(s) "
                              "perturb_rows"),
    "round_trip": (Misnamed, "must start with 'gaussian_noise('"),
    "severity_table": (Decreasing, "severities must increase"),
    "validation": (Clamps, "fraction=0 was accepted (it must raise ValueError, never wrap)"),
    "bad_inputs": (Forgiving, "no error; expected one containing \"modality 'b' not in"),
    "deterministic": (GlobalRandom, "two calls with the same seed: arrays['b'] differ"),
    "order_invariant": (ByPosition, "shuffled rows vs the same rows unshuffled"),
    "exact_count": (TouchesAll, "arrays['b'] changed on rows that are not perturbed"),
    "chunk_invariant": (ByCallSize, "(given the whole split's selection) vs the whole"),
    "nested_selection": (FractionKeyed, "fraction 0.25 selects examples fraction 0.6 does not"),
    "seed_changes_selection": (SeedIgnored, "seeds 0 and 1 select the same examples"),
}


def test_every_rule_has_a_broken_operator() -> None:
    assert list(BROKEN) == list(OPERATOR_RULES)


@pytest.mark.parametrize("rule", list(OPERATOR_RULES))
def test_the_rule_passes_on_the_built_in(rule: str) -> None:
    check_operator(GaussianNoise, SPEC, rules=[rule])


@pytest.mark.parametrize("rule", list(OPERATOR_RULES))
def test_the_rule_fails_on_an_operator_broken_that_way(rule: str) -> None:
    broken, message = BROKEN[rule]
    spec = {"modality": "b"} if broken is Unfinished else SPEC
    with pytest.raises(ContractError) as err:
        check_operator(broken, spec, rules=[rule])
    assert err.value.rules == [rule]
    assert message in err.value.failures[rule], err.value.failures[rule]


def test_unregistered_operators_are_checked_without_the_registry() -> None:
    """A plugin author's operator need not be installed for its battery to run."""
    @dataclass(frozen=True, kw_only=True)
    class Fine(GaussianNoise):
        name: ClassVar[str] = "fine_noise"

    check_operator(Fine, SPEC)
    assert dataclasses.is_dataclass(Fine)
