"""Seeds until decided: the declared contrasts looked at as seeds are added, with the error
held across looks (`sequential.py`'s boundaries), replayed from the predictions.

Design (`final.until_decided` of a study): every variant starts with the `initial` seeds; at
each look the contrasts still undecided are tested at that look's nominal boundaries; the
variants of the contrasts still undecided get `step` more seeds (the next seed ids after the
initial ones: a deterministic function of the looks), up to `max_seeds`; a decision, once
made, is final; undecided at the cap is an outcome, reported with its MDE.

Per contrast the family's level α/m (Bonferroni; α with `family_error="none"`) is spent
across the looks: the difference test two-sided, each equivalence test one-sided, each on the
information fraction seeds / max_seeds. The same function drives the study (which seeds to
train next) and the report (which verdicts the study reached), so a re-render reproduces the
looks exactly; with the predictions of an interrupted study it returns the look it stopped at.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from robustlab.stats.contrasts import Contrast
from robustlab.stats.sequential import Boundaries, Spending, boundaries
from robustlab.stats.verdict_table import NO_DATA, FamilyError, VerdictTable, verdict_table

DECIDED = ("better", "worse", "equivalent", NO_DATA)


@dataclass(frozen=True)
class Design:
    """initial: the study's initial seed ids; max_seeds: the cap per variant; step: seeds
    added per look; spending: the α-spending function."""

    initial: tuple[int, ...]
    max_seeds: int
    step: int
    spending: Spending = "obrien_fleming"

    def __post_init__(self) -> None:
        if not 0 < len(self.initial) < self.max_seeds or self.step < 1:
            raise ValueError(f"design: need 0 < initial seeds ({len(self.initial)}) < "
                             f"max_seeds ({self.max_seeds}) and step ≥ 1, got step {self.step}")

    def looks(self) -> list[int]:
        """Seeds per variant at each look: initial, +step, …, max_seeds."""
        counts = list(range(len(self.initial), self.max_seeds, self.step))
        return [*counts, self.max_seeds]

    def seed_ids(self, count: int) -> list[int]:
        """The first `count` seed ids: the initial ones, then the next integers."""
        extra = count - len(self.initial)
        return list(self.initial) + list(range(max(self.initial) + 1,
                                               max(self.initial) + 1 + extra))

    def bounds(self, alpha: float) -> tuple[Boundaries, Boundaries]:
        """(difference, equivalence) boundaries of one contrast at total level alpha."""
        t = tuple(c / self.max_seeds for c in self.looks())
        return (_bounds(t, alpha, self.spending, True), _bounds(t, alpha, self.spending, False))


@functools.lru_cache(maxsize=64)
def _bounds(t: tuple[float, ...], alpha: float, kind: Spending, two_sided: bool) -> Boundaries:
    """`boundaries`, computed once per design (a report and every look reuse them)."""
    return boundaries(np.asarray(t), alpha, kind, two_sided)


@dataclass(frozen=True)
class Look:
    """One look: its number (1-based), seeds per variant tested, the contrasts it decided
    (indices), and the seeds each variant had."""

    number: int
    seeds: int
    decided: tuple[int, ...]
    undecided: int
    variant_seeds: dict[str, list[int]]


@dataclass(frozen=True)
class Outcome:
    """table: one row per contrast (verdict_table's columns plus `look`, the look that decided
    it, null if none, and `looks`, how many it took part in); looks: every look run; pending:
    {variant: seed ids} the next look needs and the predictions lack ({} when the design is
    done); tables: the verdict table of each look."""

    table: pl.DataFrame
    looks: list[Look]
    pending: dict[str, list[int]]
    family_size: int
    design: Design
    tables: list[VerdictTable] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.pending


def _available(pred: pl.DataFrame) -> dict[str, set[int]]:
    groups = pred.select("method", "seed").unique()
    out: dict[str, set[int]] = {}
    for m, s in groups.iter_rows():
        out.setdefault(m, set()).add(int(s))
    return out


def replay(pred: pl.DataFrame, contrasts: Sequence[Contrast], design: Design, *,
           margin: float, alpha: float, family_error: FamilyError = "fwer",
           pool_seeds: bool = True, attempted: Mapping[str, set[int]] | None = None
           ) -> Outcome:
    """The sequential verdicts the predictions support (module docstring). attempted:
    {variant: seed ids} of runs that ended without predictions (training diverged); a look
    goes on without them instead of waiting for them."""
    m = len(contrasts)
    level = alpha / m if family_error == "fwer" and m else alpha
    diff, equiv = design.bounds(level)
    counts = design.looks()
    variants = {v for c in contrasts for v in (c.a, c.b)}
    seeds = {v: design.seed_ids(counts[0]) for v in variants}
    have = _available(pred)
    failed = attempted or {}
    final: dict[int, tuple[dict, int]] = {}
    looks: list[Look] = []
    tables: list[VerdictTable] = []
    for k, count in enumerate(counts):
        missing = {v: sorted(set(s) - have.get(v, set()) - set(failed.get(v, ())))
                   for v, s in seeds.items()}
        missing = {v: s for v, s in missing.items() if s}
        if missing:
            return _outcome(final, tables, contrasts, looks, missing, m, design)
        vt = _look_table(pred, seeds, contrasts, k, diff, equiv, margin, alpha, family_error,
                         pool_seeds)
        tables.append(vt)
        rows = vt.table.to_dicts()
        newly = [i for i, r in enumerate(rows) if i not in final and r["verdict"] in DECIDED]
        for i in newly:
            final[i] = (rows[i], k + 1)
        open_ = [i for i in range(m) if i not in final]
        looks.append(Look(k + 1, count, tuple(newly), len(open_),
                          {v: list(s) for v, s in sorted(seeds.items())}))
        if not open_ or k + 1 == len(counts):
            for i in open_:
                final[i] = (rows[i], 0)  # undecided at the cap: this look's numbers
            return _outcome(final, tables, contrasts, looks, {}, m, design)
        grow = {v for i in open_ for v in (contrasts[i].a, contrasts[i].b)}
        for v in grow:
            seeds[v] = design.seed_ids(counts[k + 1])
    raise AssertionError("unreachable: the last look returns")


def _look_table(pred: pl.DataFrame, seeds: dict[str, list[int]], contrasts, k: int,
                diff: Boundaries, equiv: Boundaries, margin: float, alpha: float,
                family_error: FamilyError, pool_seeds: bool) -> VerdictTable:
    """Every contrast tested on the seeds each variant has at look k, at that look's
    boundaries (decided contrasts are tested too and ignored: they still inform the pool)."""
    keep = pl.concat([pl.DataFrame({"method": [v] * len(s), "seed": s},
                                   schema={"method": pl.String, "seed": pred.schema["seed"]})
                      for v, s in seeds.items()])
    at_look = pred.join(keep, on=["method", "seed"], how="semi")
    n = len(contrasts)
    return verdict_table(at_look, contrasts, margin=margin, alpha=alpha,
                         family_error=family_error, pool_seeds=pool_seeds,
                         level=np.full(n, diff.nominal[k]),
                         equiv_level=np.full(n, equiv.nominal[k]))


def _outcome(final: dict[int, tuple[dict, int]], tables: list[VerdictTable],
             contrasts: Sequence[Contrast], looks: list[Look],
             pending: dict[str, list[int]], m: int, design: Design) -> Outcome:
    """The table of final verdicts so far (contrasts not yet decided carry the latest look's
    numbers with verdict "undecided" and no look)."""
    latest = tables[-1].table.to_dicts() if tables else []
    rows = []
    for i in range(m):
        row, look = final.get(i, (latest[i] if latest else {}, 0))
        rows.append({**row, "look": look or None})
    frame = pl.DataFrame(rows, infer_schema_length=None) if rows and latest else pl.DataFrame()
    return Outcome(frame, looks, pending, m, design, tables)
