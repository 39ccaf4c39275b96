"""The sequential final phase (`final.until_decided`): look at the declared contrasts, train more
seeds only for the variants of undecided ones, look again (robustlab.stats.until_decided).

The driver keeps Ray up between looks and hands each look's added seeds to the runner as one
batch, so the seeds of different variants train concurrently. Every added seed is an ordinary
final unit in `parts/finals/<variant>/seed<k>.*`: an interrupted phase resumes by replaying the
looks from the units on disk, which reaches the same looks and decisions (the replay is a
deterministic function of the predictions, and the seed ids of a look are fixed by the design).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from robustlab.results import scored
from robustlab.stats.contrasts import ConditionInfo, Contrast, resolve
from robustlab.stats.until_decided import Design, Outcome, replay


def design_of(plan: Any) -> Design | None:
    """The study's sequential design, or None for a fixed set of seeds."""
    spec = plan.spec.final
    if spec.until_decided is None:
        return None
    u = spec.until_decided
    return Design(tuple(spec.seeds), u.max_seeds, u.step, u.spending)


def family(plan: Any) -> list[Contrast]:
    """The declared contrasts, resolved as the report resolves them."""
    info = [ConditionInfo(c.id, c.op, c.modality, c.level) for c in plan.conditions]
    return resolve([c.model_dump() for c in plan.spec.report.contrasts],
                   [v.name for v in plan.variants], info)


def decide(plan: Any, predictions: pl.DataFrame, attempted: Mapping[str, set[int]]) -> Outcome:
    """Replay the looks the predictions support, with the study's report settings."""
    design = design_of(plan)
    assert design is not None
    report = plan.spec.report
    return replay(scored(predictions), family(plan), design, margin=report.margin,
                  alpha=report.alpha,
                  family_error="none" if report.correction == "none" else "fwer",
                  pool_seeds=report.seed_variance == "pooled", attempted=attempted)


def run_until_decided(plan: Any, predictions: Callable[[], pl.DataFrame],
                      attempted: Callable[[], dict[str, set[int]]],
                      train: Callable[[list[tuple[str, int]]], None],
                      note: Callable[[str], None]) -> dict[str, Any]:
    """Look, train the seeds the next look needs, look again, until the design is done.
    predictions(): everything the final units hold so far; attempted(): seeds whose run ended
    without predictions; train(runs): run those (variant, seed) units. Returns the manifest's
    `sequential` record."""
    while True:
        outcome = decide(plan, predictions(), attempted())
        if outcome.done:
            return record(outcome)
        runs = sorted((v, s) for v, seeds in outcome.pending.items() for s in seeds)
        last = outcome.looks[-1]
        note(f"look {last.number} ({last.seeds} seeds): {last.undecided} contrasts undecided; "
             f"training {len(runs)} more final runs for {len(outcome.pending)} variants")
        train(runs)


def record(outcome: Outcome) -> dict[str, Any]:
    """What the manifest keeps of the sequential phase: the design, every look, the seeds
    trained, and what a fixed design at the cap would have trained."""
    d = outcome.design
    verdicts = outcome.table["verdict"].value_counts().sort("verdict").rows() \
        if outcome.table.height else []
    trained = {v: len(s) for v, s in outcome.looks[-1].variant_seeds.items()} \
        if outcome.looks else {}
    return {
        "design": {"initial": list(d.initial), "max_seeds": d.max_seeds, "step": d.step,
                   "spending": d.spending, "looks": d.looks()},
        "looks": [{"look": look.number, "seeds": look.seeds,
                   "decided": [int(i) for i in look.decided], "undecided": look.undecided,
                   "variant_seeds": look.variant_seeds} for look in outcome.looks],
        "verdicts": {str(k): int(n) for k, n in verdicts},
        "seeds_trained": sum(trained.values()),
        "seeds_fixed_design": d.max_seeds * len(trained),
    }
