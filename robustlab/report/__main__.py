"""`python -m robustlab.report DIR [--out FILE] [--seed N]`: re-render a study's report
(robustlab.report.cli)."""

from robustlab.report.cli import main, parser

__all__ = ["main", "parser"]

if __name__ == "__main__":
    raise SystemExit(main())
