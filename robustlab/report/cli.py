"""`python -m robustlab.report DIR [--out FILE] [--seed N]` (or `robustlab report DIR`):
re-render a study's report from its results folder.

Exit status 0 on success (prints the report's path), 2 on bad input (a message naming the file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

PROG = "python -m robustlab.report"


def parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Render report.html from a results folder (predictions.parquet, "
                    "manifest.json, trials.parquet).")
    p.add_argument("results_dir", type=Path, help="e.g. reports/missing_modality")
    p.add_argument("--out", type=Path, default=None,
                   help="where to write the HTML (default: RESULTS_DIR/report.html)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    return p


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    from robustlab.report.inputs import ReportInputError
    from robustlab.report.render import render_report

    args = parser(prog).parse_args(argv)
    try:
        path = render_report(args.results_dir, out=args.out, seed=args.seed)
    except ReportInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0
