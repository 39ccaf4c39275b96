"""`check_dataset` itself: every rule fails on a dataset broken in exactly that way, naming
the rule, and passes on the built-in it was broken from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from robustlab.data import DatasetOptions, TrimodalDataset
from robustlab.data.splitting import check_seed
from robustlab.data.symile_xor import SymileXor
from robustlab.testing import DATASET_RULES, ContractError, check_dataset

SMALL = {"d": 3, "n": 300}


@dataclass
class Thawed(DatasetOptions):
    n: int = 300

    def build(self, seed: int) -> TrimodalDataset:
        return SymileXor(d=3, n=self.n).build(seed)


@dataclass(frozen=True, init=False)
class SwallowsOptions(SymileXor):
    def __init__(self, **options: Any) -> None:  # silently drops what it does not know
        for f in dataclasses.fields(SymileXor):
            object.__setattr__(self, f.name, options.get(f.name, f.default))


@dataclass(frozen=True)
class AbsSeed(SymileXor):
    def build(self, seed: int) -> TrimodalDataset:
        return super().build(abs(seed))  # -1 wraps to 1 instead of raising


@dataclass(frozen=True)
class ClashingColumn(SymileXor):
    def build(self, seed: int) -> TrimodalDataset:
        ds = super().build(seed)
        splits = {k: s.replace(metadata=s.metadata.rename({"is_xor": "op"}))
                  for k, s in ds.splits.items()}
        return dataclasses.replace(ds, splits=splits)  # "op" is a results column


@dataclass(frozen=True)
class SeedIgnored(SymileXor):
    def build(self, seed: int) -> TrimodalDataset:
        check_seed("seed_ignored", seed)
        return dataclasses.replace(super().build(0), split_seed=seed)


BROKEN: dict[str, tuple[type, str]] = {
    "interface": (Thawed, "Thawed must be a frozen dataclass"),
    "unknown_option": (SwallowsOptions, "the unknown option 'no_such_option' was accepted"),
    "bad_seed": (AbsSeed, "build(-1) was accepted"),
    "contract": (ClashingColumn, "slice columns ['op'] reuse names the harness writes"),
    "deterministic": (SeedIgnored, "seeds 5 and 6 give the same data and split"),
}


def test_every_rule_has_a_broken_dataset() -> None:
    assert list(BROKEN) == list(DATASET_RULES)


@pytest.mark.parametrize("rule", list(DATASET_RULES))
def test_the_rule_passes_on_the_built_in(rule: str) -> None:
    check_dataset(SymileXor, SMALL, rules=[rule])


@pytest.mark.parametrize("rule", list(DATASET_RULES))
def test_the_rule_fails_on_a_dataset_broken_that_way(rule: str) -> None:
    broken, message = BROKEN[rule]
    options = {"n": 300} if broken is Thawed else SMALL
    with pytest.raises(ContractError) as err:
        check_dataset(broken, options, rules=[rule])
    assert err.value.rules == [rule]
    assert message in err.value.failures[rule], err.value.failures[rule]


def test_the_broken_dataset_breaks_nothing_else() -> None:
    for rule, (broken, _) in BROKEN.items():
        with pytest.raises(ContractError) as err:
            check_dataset(broken, {"n": 300} if broken is Thawed else SMALL)
        assert err.value.rules == [rule]


@pytest.mark.parametrize("name", ["fraction", "step1_op", "step12_severity", "observed",
                                  "target_missing", "label", "cond_level"])
def test_contract_refuses_every_name_the_harness_writes(name: str) -> None:
    """The same reserved list as the `files` loader (robustlab.results.is_reserved_column)."""

    @dataclass(frozen=True)
    class Renamed(SymileXor):
        def build(self, seed: int) -> TrimodalDataset:
            ds = super().build(seed)
            splits = {k: s.replace(metadata=s.metadata.rename({"is_xor": name}))
                      for k, s in ds.splits.items()}
            return dataclasses.replace(ds, splits=splits)

    with pytest.raises(ContractError) as err:
        check_dataset(Renamed, SMALL, rules=["contract"])
    assert f"[{name!r}]" in err.value.failures["contract"]
    assert "step<k>_perturbed" in err.value.failures["contract"]  # the list is in the error
