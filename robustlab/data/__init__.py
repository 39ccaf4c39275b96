"""Trimodal datasets (DESIGN §5): containers, generators and the on-disk loader."""

from robustlab.data.batch import Batch
from robustlab.data.dataset import SPLITS, Split, TrimodalDataset

__all__ = ["SPLITS", "Batch", "Split", "TrimodalDataset"]
