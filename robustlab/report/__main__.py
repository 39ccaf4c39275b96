"""`python -m robustlab.report DIR [--out FILE] [--seed N]`: re-render a study's report.

Exit status 0 on success (prints the report's path), 2 on bad input (a message naming the file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from robustlab.report.inputs import ReportInputError
from robustlab.report.render import render_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m robustlab.report",
        description="Render report.html from a results folder (predictions.parquet, "
                    "manifest.json, trials.parquet).")
    parser.add_argument("results_dir", type=Path, help="e.g. reports/missing_modality")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the HTML (default: RESULTS_DIR/report.html)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    args = parser.parse_args(argv)
    try:
        path = render_report(args.results_dir, out=args.out, seed=args.seed)
    except ReportInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
