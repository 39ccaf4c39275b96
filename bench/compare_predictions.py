"""Two results folders of the same study, variant by variant: identical predictions, or how
far apart (score margins, ranks, top-1) — the determinism check of issue 24. Run both with
`scheduler: fifo` and `resources.concurrency=1` (`--smoke` sets FIFO), e.g.

    .venv/bin/python -m robustlab.study studies/missing_modality.yaml --smoke \\
        --set resources.concurrency=1 --out BEFORE_DIR          # at the old revision
    .venv/bin/python -m robustlab.study studies/missing_modality.yaml --smoke \\
        --set resources.concurrency=1 --out AFTER_DIR           # at the new one
    .venv/bin/python bench/compare_predictions.py BEFORE_DIR AFTER_DIR
"""

from __future__ import annotations

import sys

import polars as pl

KEYS = ["method", "seed", "condition", "example_id"]


def compare(before: str, after: str) -> pl.DataFrame:
    a = pl.read_parquet(f"{before}/predictions.parquet")
    b = pl.read_parquet(f"{after}/predictions.parquet")
    joined = a.join(b, on=KEYS, how="inner", suffix="_after")
    if not joined.height == a.height == b.height:
        raise ValueError(f"the folders hold different rows ({a.height} vs {b.height})")
    trials = {f: pl.read_parquet(f"{f}/trials.parquet").sort(["method", "trial_id"])
              for f in (before, after)}
    rows = []
    for method in sorted(a["method"].unique()):
        s = joined.filter(pl.col("method") == method)
        same = (s["score_margin"] == s["score_margin_after"]) & (s["rank"] == s["rank_after"])
        configs = [trials[f].filter(pl.col("method") == method)["config"].to_list()
                   for f in (before, after)]
        rows.append({
            "variant": method, "identical": bool(same.all()),
            "max_abs_d_score_margin": float((s["score_margin"] - s["score_margin_after"])
                                            .abs().max()),
            "ranks_changed": int((s["rank"] != s["rank_after"]).sum()), "rows": s.height,
            "max_abs_d_rank": int((s["rank"] - s["rank_after"]).abs().max()),
            "top1_before": float(s["correct"].mean()),
            "top1_after": float(s["correct_after"].mean()),
            "same_trial_configs": configs[0] == configs[1]})
    return pl.DataFrame(rows)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200):
        print(compare(sys.argv[1], sys.argv[2]))
