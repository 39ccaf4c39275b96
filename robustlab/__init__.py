"""robustlab: robustness evaluation and ablation harness for trimodal contrastive learning."""

__version__ = "0.1.0"
