"""The plugin's own tests: robustlab's contract batteries, and the entry points."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
import torch
from robustlab.data.batch import Batch
from robustlab.methods.encoders import Mlp
from robustlab.testing import check_dataset, check_method

from robustlab_pairtemp import NoisyViews, PairTempClip


def test_the_method_passes_robustlab_s_battery() -> None:
    check_method(PairTempClip, switches=[{"weighted_score": False}, {"normalize": False}])


def test_the_dataset_passes_robustlab_s_battery() -> None:
    check_dataset(NoisyViews, {"n": 300})


def test_equal_pair_scales_give_clip_s_score() -> None:
    dims = {"a": 4, "b": 5, "c": 6}
    model = PairTempClip.build(PairTempClip.Options(), dims, Mlp(dim=8, depth=1), seed=0)
    g = torch.Generator().manual_seed(0)
    x = {m: torch.randn(6, d, generator=g) for m, d in dims.items()}
    batch = Batch(x=x, mask={m: torch.ones(6, dtype=torch.bool) for m in dims},
                  index=torch.arange(6))
    query, cands = model.encode_query(batch, "a"), model.encode_candidates("a", x["a"])
    torch.testing.assert_close(model.score("a", query, cands), (query["b"] + query["c"]) @ cands.T)
    with torch.no_grad():  # a larger (a, b) scale moves weight from c to b
        model.log_scale("a", "b").add_(1.0)
        weights = model.context_weights("a")
    assert weights[0] > 1.0 > weights[1] and float(weights.sum()) == pytest.approx(2.0)


def test_the_unreliable_share_is_the_option() -> None:
    ds = NoisyViews(n=4000, unreliable=0.25).build(0)
    share = 1 - np.concatenate([ds.split(s).metadata["c_reliable"].to_numpy()
                                for s in ("train", "val", "test")]).mean()
    assert abs(share - 0.25) < 0.03


def test_the_entry_points_point_here() -> None:
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="robustlab.methods")}
    if "pair_temp_clip" not in points:
        pytest.skip("robustlab-pairtemp is not installed (pip install -e .)")
    from robustlab.data import DATASETS
    from robustlab.methods import METHODS

    assert METHODS.get("pair_temp_clip") is PairTempClip
    assert DATASETS.get("noisy_views") is NoisyViews
    assert METHODS.origin("pair_temp_clip").distribution == "robustlab-pairtemp"
