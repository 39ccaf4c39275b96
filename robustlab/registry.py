"""The component registries. One generic implementation, shared with `perturbations`."""

from perturbations.registry import Registry, RegistryError

__all__ = ["Registry", "RegistryError"]
