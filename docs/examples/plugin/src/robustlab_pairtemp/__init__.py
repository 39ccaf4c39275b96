"""robustlab-pairtemp: an example plugin (a method and a dataset) for robustlab."""

from robustlab_pairtemp.noisy_views import NoisyViews
from robustlab_pairtemp.pair_temp_clip import PairTempClip

__all__ = ["NoisyViews", "PairTempClip"]
