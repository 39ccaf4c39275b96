"""Contract batteries, public: the checks every built-in passes, for plugin authors to run in
their own test suites (in the spirit of scikit-learn's `check_estimator`).

    from robustlab.testing import check_dataset, check_method, check_operator

    def test_my_method():
        check_method(MyMethod, {"hidden": 8})           # small options keep it fast

    def test_my_dataset():
        check_dataset(MyData, {"n": 300})

    def test_my_operator():
        check_operator(MyNoise, {"modality": "b", "severity": 3})

Each raises `ContractError` (an AssertionError: any test runner reports it) naming every rule
that broke and why; `err.failures` maps rule -> message, `rules=[...]` runs a subset
(`METHOD_RULES`, `DATASET_RULES`, `OPERATOR_RULES` list them). Nothing here imports pytest.
"""

from perturbations.testing import OPERATOR_RULES, ContractError, check_operator
from robustlab.testing.datasets import DATASET_RULES, check_dataset
from robustlab.testing.methods import METHOD_RULES, check_method

__all__ = ["DATASET_RULES", "METHOD_RULES", "OPERATOR_RULES", "ContractError", "check_dataset",
           "check_method", "check_operator"]
