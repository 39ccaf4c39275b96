"""Standalone perturbation operators for multimodal data (depends on numpy/torch only).

    from perturbations import OPERATORS, Compose, Perturbed, build
    op = OPERATORS.get("gaussian_noise")(modality="b", severity=3, fraction=1.0)
    out = op.apply(arrays, masks, example_ids, seed=0)      # -> Perturbed

Importing the package registers every operator (one module per registry name).
"""

from perturbations import (  # noqa: F401  (imported for their registrations)
    gaussian_noise,
    missing,
    one_of,
    random_missing,
    shift,
    signal_swap,
    swap_entries,
    swap_modality,
    zero_entries,
)
from perturbations.base import OPERATORS, PROVENANCE_COLUMNS, Operator, Perturbed
from perturbations.compose import Compose, build
from perturbations.one_of import OneOf

__all__ = ["OPERATORS", "PROVENANCE_COLUMNS", "Compose", "OneOf", "Operator", "Perturbed", "build"]
