"""The component registries. One generic implementation, shared with `perturbations`.

The four registries and their plugin entry-point groups:
`robustlab.methods.METHODS` (`robustlab.methods`), `robustlab.data.DATASETS`
(`robustlab.datasets`), `robustlab.methods.ENCODERS` (`robustlab.encoders`) and
`perturbations.OPERATORS` (`robustlab.perturbations`).
"""

from perturbations.registry import (
    Origin,
    PluginError,
    PluginWarning,
    Registry,
    RegistryError,
    check_frozen_subclass,
)

__all__ = ["Origin", "PluginError", "PluginWarning", "Registry", "RegistryError",
           "check_frozen_subclass"]
