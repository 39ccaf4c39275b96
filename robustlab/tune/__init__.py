"""Ray Tune + Optuna tuning (DESIGN §8): search spaces, the trial, the tuner, the cluster.

`space` and `trainable` import neither Ray nor Optuna at module level; `tuner` imports Ray.
"""

from robustlab.tune.cluster import ClusterInfo, ResourceError, Resources, connect, plan_resources
from robustlab.tune.space import SearchSpace, narrow
from robustlab.tune.trainable import TrialSpec, apply_config

__all__ = ["ClusterInfo", "ResourceError", "Resources", "SearchSpace", "TrialSpec",
           "apply_config", "connect", "narrow", "plan_resources"]
