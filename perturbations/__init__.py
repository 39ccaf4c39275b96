"""Standalone perturbation operators for multimodal data (depends on numpy/torch only)."""
