"""The core math (DESIGN §4): MIP, Symile and CLIP losses, the Gated Symile gate.

Plain differentiable torch functions and one `nn.Module`. Every `logit_scale` argument is
the already-exponentiated scale `exp(s)` (the method clamps `s` at log 100).
"""

from robustlab.core.clip import clip_loss, clip_scores, info_nce
from robustlab.core.gate import KeepWeights, ModalityGate
from robustlab.core.gated_loss import gated_symile_loss, gated_symile_target_losses
from robustlab.core.mip import mip, mip_scores
from robustlab.core.symile import symile_anchor_losses, symile_loss

__all__ = [
    "KeepWeights",
    "ModalityGate",
    "clip_loss",
    "clip_scores",
    "gated_symile_loss",
    "gated_symile_target_losses",
    "info_nce",
    "mip",
    "mip_scores",
    "symile_anchor_losses",
    "symile_loss",
]
