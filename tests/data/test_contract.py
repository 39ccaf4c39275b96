"""The battery every registered built-in dataset passes (timm style: parametrized over the
registry). The battery is `robustlab.testing.check_dataset`, the public function a plugin
author runs on their own dataset; here one rule per test."""

from __future__ import annotations

import pytest

from robustlab.data import DATASETS
from robustlab.testing import DATASET_RULES, check_dataset

NAMES = DATASETS.names(plugins=False)


def test_registry_holds_the_documented_datasets():
    assert {"symile_xor", "synthetic_xnor", "pid", "m3_lite", "files"} <= set(NAMES)


@pytest.mark.parametrize("rule", list(DATASET_RULES))
@pytest.mark.parametrize("name", NAMES)
def test_dataset_rule(name, rule, tiny_options):
    """Frozen options with build, unknown options and bad seeds refused, the TrimodalDataset
    contract on every split, determinism given the seed."""
    check_dataset(DATASETS.get(name), tiny_options(name), rules=[rule])
