"""Seeds until decided: the Lan–DeMets boundaries (`sequential.py`) against published values and
by simulation of the canonical process, and the replay of looks (`until_decided.py`)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from robustlab.stats.contrasts import ConditionInfo, resolve
from robustlab.stats.sequential import boundaries, spent
from robustlab.stats.simulate import StudyModel, simulate, to_frame
from robustlab.stats.until_decided import Design, replay

FIVE = np.arange(1, 6) / 5


def test_boundaries_match_published_values() -> None:
    """Equally spaced looks (gsDesign's sfLDPocock two-sided and sfLDOF one-sided; Jennison &
    Turnbull 2000, table 7.6 for the Lan–DeMets forms)."""
    pocock = boundaries(FIVE, 0.05, "pocock", two_sided=True).z
    assert np.allclose(pocock, [2.4380, 2.4268, 2.4101, 2.3966, 2.3859], atol=2e-3)
    obf = boundaries(FIVE, 0.025, "obrien_fleming", two_sided=False).z
    assert np.allclose(obf, [4.8769, 3.3569, 2.6803, 2.2898, 2.0310], atol=2e-3)


@pytest.mark.parametrize("kind", ["obrien_fleming", "pocock"])
@pytest.mark.parametrize("two_sided", [True, False])
def test_crossing_probability_is_the_spending_by_simulation(kind, two_sided) -> None:
    """The canonical process with independent increments (looks at 3, 5, 7, 9 of 9 seeds):
    the share of paths that cross by look k is α(t_k), to Monte-Carlo error."""
    t = np.array([3, 5, 7, 9]) / 9
    alpha = 0.05
    b = boundaries(t, alpha, kind, two_sided)
    rng = np.random.default_rng(0)
    paths = 400_000
    score = np.cumsum(rng.normal(0, np.sqrt(np.diff(np.r_[0, t])), (paths, t.size)), axis=1)
    z = score / np.sqrt(t)
    crossed = (np.abs(z) if two_sided else z) >= b.z
    first = np.cumsum(crossed, axis=1) > 0
    share = first.mean(axis=0)
    sd = np.sqrt(alpha * (1 - alpha) / paths)
    assert np.allclose(share, spent(t, alpha, kind), atol=4 * sd + 1e-4), (share, b.spent)


def test_spending_functions() -> None:
    t = np.linspace(0.1, 1, 10)
    for kind in ("obrien_fleming", "pocock"):
        s = spent(t, 0.05, kind)
        assert np.isclose(s[-1], 0.05) and (np.diff(s) > 0).all()
    assert (spent(t[:-1], 0.05, "obrien_fleming") < spent(t[:-1], 0.05, "pocock")).all()
    with pytest.raises(ValueError, match="spending"):
        spent(t, 0.05, "haybittle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="increasing"):
        boundaries(np.array([0.5, 0.4]), 0.05)


def test_design_looks_and_seed_ids() -> None:
    d = Design((0, 1, 2), 9, 2)
    assert d.looks() == [3, 5, 7, 9]
    assert Design((0, 1, 2), 8, 2).looks() == [3, 5, 7, 8]
    assert d.seed_ids(5) == [0, 1, 2, 3, 4]
    assert Design((4, 9), 4, 1).seed_ids(4) == [4, 9, 10, 11]
    with pytest.raises(ValueError, match="max_seeds"):
        Design((0, 1, 2), 3, 1)


def _study(seeds: int):
    rng = np.random.default_rng(0)
    acc = np.array([[0.6], [0.75], [0.62], [0.6], [0.6]])
    pred = to_frame(simulate(StudyModel(acc, np.full(5, 0.15), n=400), seeds, rng),
                    ["ref", "big", "small", "same", "also"], ["clean"])
    family = resolve(None, ["ref", "big", "small", "same", "also"],
                     [ConditionInfo("clean", "clean", "none", 0.0)])
    return pred, family


def test_replay_decides_once_and_reports_the_decisive_look() -> None:
    pred, family = _study(9)
    design = Design((0, 1, 2), 9, 2)
    out = replay(pred, family, design, margin=0.05, alpha=0.05)
    assert out.done and out.looks[0].seeds == 3
    big = out.table.row(0, named=True)
    assert big["method_a"] == "big" and big["verdict"] == "better" and big["look"] >= 1
    decided_at = big["look"]
    assert big["seeds_a"] == design.looks()[decided_at - 1]  # its numbers are that look's
    undecided = out.table.filter(pl.col("verdict") == "undecided")
    assert undecided["look"].null_count() == undecided.height  # undecided at the cap: no look
    assert (undecided["seeds_a"] == 9).all()
    # the variants of decided contrasts get no more seeds than their look needed
    last = out.looks[-1].variant_seeds
    if decided_at == 1 and len(out.looks) > 1:
        assert len(last["big"]) == 3
    assert replay(pred, family, design, margin=0.05, alpha=0.05).table.equals(out.table)


def test_replay_of_an_interrupted_phase_names_the_missing_seeds() -> None:
    pred, family = _study(9)
    design = Design((0, 1, 2), 9, 2)
    full = replay(pred, family, design, margin=0.05, alpha=0.05)
    if len(full.looks) < 2:
        pytest.skip("everything decided at the first look")
    cut = replay(pred.filter(pl.col("seed") < 3), family, design, margin=0.05, alpha=0.05)
    assert not cut.done and len(cut.looks) == 1
    needed = {v for i in range(len(family)) if i not in full.looks[0].decided
              for v in (family[i].a, family[i].b)}
    assert set(cut.pending) == needed and all(s == [3, 4] for s in cut.pending.values())
    # a run that ended without predictions is not waited for
    attempted = {v: {3, 4} for v in cut.pending}
    assert replay(pred.filter(pl.col("seed") < 3), family, design, margin=0.05, alpha=0.05,
                  attempted=attempted).looks[1].number == 2
