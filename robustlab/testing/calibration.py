"""A study's confirmatory family as a simulation target: what the verdict calibration runs.

    family = study_family(Path("studies/missing_modality.yaml"))
    acc, truth = family.configuration(base, offsets=family.margin_offsets(+1))
    rates = family_error(family, StudyModel(acc, seed_sd, n=400), truth, seeds=3, sets=400,
                         rng=np.random.default_rng(0))

The family is read from the study file exactly as the study resolves it (its variants, its
grid's conditions, `report.contrasts`), so the calibration measures the family the default
study really tests. Everything random takes an explicit generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustlab.stats.components import DF_LEVEL
from robustlab.stats.contrasts import ConditionInfo, Contrast, resolve
from robustlab.stats.simulate import StudyModel, false_claims, simulate, study_verdicts
from robustlab.stats.until_decided import Design


@dataclass(frozen=True)
class Family:
    """variants, conditions: the study's; contrasts: the resolved family; pairs: (G, 3)
    (variant a, variant b, condition) indices; margin, alpha: the study's report settings."""

    variants: tuple[str, ...]
    conditions: tuple[ConditionInfo, ...]
    contrasts: tuple[Contrast, ...]
    pairs: np.ndarray
    margin: float
    alpha: float

    @property
    def size(self) -> int:
        return len(self.contrasts)

    def margin_offsets(self, sign: float) -> np.ndarray:
        """(V,) per-variant accuracy offsets that put every contrast at Δ = sign·δ exactly
        (least squares over the contrast graph; ValueError when the family admits none)."""
        v = len(self.variants)
        design = np.zeros((self.size, v))
        design[np.arange(self.size), self.pairs[:, 0]] += 1.0
        design[np.arange(self.size), self.pairs[:, 1]] -= 1.0
        target = np.full(self.size, sign * self.margin)
        offsets = np.linalg.lstsq(design, target, rcond=None)[0]
        if not np.allclose(design @ offsets, target, atol=1e-9):
            raise ValueError("no accuracies put every contrast of this family at the margin")
        return offsets - offsets.min() if sign > 0 else offsets - offsets.max()

    def configuration(self, base: np.ndarray, offsets: np.ndarray | None = None,
                      focal: int | None = None, effect: float = 0.0
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(accuracy (V, C), truth (G,)): each condition at base (C,), variants shifted by
        offsets (V,), and contrast `focal` given an extra `effect` (its variant a moved)."""
        v = len(self.variants)
        acc = np.tile(np.asarray(base, dtype=np.float64), (v, 1))
        if offsets is not None:
            acc += offsets[:, None]
        if focal is not None:
            a, _, c = self.pairs[focal]
            acc[a, c] += effect
        a, b, c = self.pairs.T
        return acc, acc[a, c] - acc[b, c]


def study_family(path: Path, *, smoke: bool = False) -> Family:
    """The confirmatory family of a study file (no dataset is built)."""
    from robustlab.study.grid import expand_grid
    from robustlab.study.spec import load_raw, parse_spec, smoke_overrides

    raw = load_raw(path)
    spec = parse_spec(smoke_overrides(raw) if smoke else raw, str(path))
    modalities = _modalities(spec.eval_grid, spec.task.target)
    conditions = tuple(ConditionInfo(c.id, c.op, c.modality, c.level)
                       for c in expand_grid(spec.eval_grid, modalities))
    variants = tuple(spec.methods)
    contrasts = tuple(resolve([c.model_dump() for c in spec.report.contrasts], variants,
                              conditions))
    index = {name: i for i, name in enumerate(variants)}
    where = {c.id: i for i, c in enumerate(conditions)}
    pairs = np.array([(index[c.a], index[c.b], where[c.condition]) for c in contrasts],
                     dtype=np.int64).reshape(-1, 3)
    return Family(variants, conditions, contrasts, pairs, spec.report.margin, spec.report.alpha)


def _modalities(grid: list[dict], target: str) -> tuple[str, ...]:
    """The modalities the grid names plus the target (what expand_grid checks against)."""
    named = {target}
    for entry in grid:
        for step in entry.get("compose", [entry]):
            value = step.get("modality", [])
            named.update(value if isinstance(value, list) else [value])
    return tuple(sorted(named))


@dataclass(frozen=True)
class Rates:
    """Over `sets` simulated studies: fwer — share with ≥ 1 false claim; per_contrast (G,) —
    false-claim rate of each contrast; decided (G,) — share called better/worse/equivalent;
    better (G,) — share called better."""

    fwer: float
    per_contrast: np.ndarray
    decided: np.ndarray
    better: np.ndarray
    sets: int

    def mc_sd(self, rate: float) -> float:
        """Binomial Monte-Carlo standard deviation of a rate near `rate`."""
        return float(np.sqrt(rate * (1 - rate) / self.sets))


def family_error(family: Family, model: StudyModel, truth: np.ndarray, *, seeds: int,
                 sets: int, rng: np.random.Generator, level: np.ndarray | None = None,
                 pool_seeds: bool = True, df_level: float | None = DF_LEVEL) -> Rates:
    """Simulate `sets` studies of `model` with `seeds` seeds and count false claims of the
    verdicts at `level` (G,) (default: Bonferroni α/G)."""
    level = np.full(family.size, family.alpha / family.size) if level is None else level
    any_false, per, decided, better = 0, np.zeros(family.size), np.zeros(family.size), \
        np.zeros(family.size)
    for _ in range(sets):
        verdicts = study_verdicts(simulate(model, seeds, rng), family.pairs,
                                  margin=family.margin, level=level, pool_seeds=pool_seeds,
                                  df_level=df_level)
        wrong = false_claims(verdicts, truth, family.margin)
        any_false += bool(wrong.any())
        per += wrong
        decided += verdicts.verdict != "undecided"
        better += verdicts.verdict == "better"
    return Rates(any_false / sets, per / sets, decided / sets, better / sets, sets)


@dataclass(frozen=True)
class SequentialRates:
    """Over `sets` simulated sequential studies: fwer; decided (G,) — share decided by the
    end; better (G,); seeds — mean final runs of the family's variants (the cost)."""

    fwer: float
    decided: np.ndarray
    better: np.ndarray
    seeds: float
    sets: int


def sequential_error(family: Family, model: StudyModel, truth: np.ndarray, design: Design, *,
                     sets: int, rng: np.random.Generator, naive: bool = False
                     ) -> SequentialRates:
    """Simulate `sets` studies run with seeds added until decided (`design`), each look on the
    same test examples, and count false claims. naive=True: every look at the fixed design's
    full α/m — the "add a few seeds and look again" practice."""
    alpha = family.alpha / family.size
    diff, equiv = design.bounds(alpha)
    counts = design.looks()
    fwer, seeds_used = 0, 0.0
    decided_any, better_any = np.zeros(family.size), np.zeros(family.size)
    for _ in range(sets):
        x = simulate(model, design.max_seeds, rng)  # the seeds a look may use, drawn upfront
        final, used = _run_looks(family, x, counts, diff, equiv, naive, alpha)
        verdict = np.array([final.get(i, "undecided") for i in range(family.size)])
        wrong = false_claims(_as_verdicts(verdict, family.size), truth, family.margin)
        fwer += bool(wrong.any())
        decided_any += verdict != "undecided"
        better_any += verdict == "better"
        seeds_used += used
    return SequentialRates(fwer / sets, decided_any / sets, better_any / sets,
                           seeds_used / sets, sets)


def _run_looks(family: Family, x: np.ndarray, counts: list[int], diff, equiv, naive: bool,
               alpha: float) -> tuple[dict[int, str], int]:
    """One simulated sequential study: {contrast: final verdict}, final runs used."""
    v = len(family.variants)
    in_family = np.unique(family.pairs[:, :2])
    seeds = np.full(v, counts[0])
    final: dict[int, str] = {}
    for k in range(len(counts)):
        level = np.full(family.size, alpha if naive else diff.nominal[k])
        eq_level = np.full(family.size, alpha if naive else equiv.nominal[k])
        verdicts = study_verdicts(x, family.pairs, margin=family.margin, level=level,
                                  equiv_level=eq_level, seeds=seeds)
        for i, verdict in enumerate(verdicts.verdict):
            if i not in final and verdict != "undecided":
                final[i] = str(verdict)
        open_ = [i for i in range(family.size) if i not in final]
        if not open_ or k + 1 == len(counts):
            break
        for i in open_:
            seeds[family.pairs[i, :2]] = counts[k + 1]
    return final, int(seeds[in_family].sum())


def _as_verdicts(verdict: np.ndarray, g: int) -> Any:
    """A stand-in `Verdicts` for `false_claims`: an equivalence claim is its only
    within-margin claim (a difference decided at some look stays that difference)."""
    from types import SimpleNamespace

    return SimpleNamespace(verdict=verdict, within_margin=verdict == "equivalent")


def study_path(name: str) -> Path:
    """A shipped study file by name (`missing_modality` → studies/missing_modality.yaml), from
    a source checkout."""
    return Path(__file__).resolve().parents[2] / "studies" / f"{name}.yaml"
