"""The `robustlab` console command: one entry point for the module commands.

    robustlab study FILE [options]   = python -m robustlab.study FILE [options]
    robustlab report DIR [options]   = python -m robustlab.report DIR [options]
    robustlab list                   = python -m robustlab.study --list
    robustlab --version

Each subcommand hands its arguments, untouched, to the module command's own parser, so the
flags, exit statuses and messages are the same (only the program name in `--help` differs).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import robustlab

PROG = "robustlab"


def _study(argv: Sequence[str]) -> int:
    from robustlab.study.cli import main

    return main(argv, prog=f"{PROG} study")


def _report(argv: Sequence[str]) -> int:
    from robustlab.report.cli import main

    return main(argv, prog=f"{PROG} report")


def _list(argv: Sequence[str]) -> int:
    argparse.ArgumentParser(prog=f"{PROG} list", description=COMMANDS["list"][1]).parse_args(argv)
    from robustlab.study.cli import list_components

    return list_components()


COMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "study": (_study, "run a study file: tune, train on seeds, perturb, evaluate, report "
                      "(= python -m robustlab.study)"),
    "report": (_report, "re-render report.html from a results folder "
                        "(= python -m robustlab.report)"),
    "list": (_list, "list every registered method, dataset, encoder and perturbation "
                    "operator with its origin (built-in or plugin)"),
}


def parser() -> argparse.ArgumentParser:
    """The top-level parser: `--version`, `--help` and the list of subcommands."""
    p = argparse.ArgumentParser(
        prog=PROG, description="Robustness evaluation and ablation harness for trimodal "
                               "contrastive learning.",
        epilog="Run 'robustlab COMMAND --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"{PROG} {robustlab.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, text) in COMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]][0](args[1:])
    p = parser()
    p.parse_args(args)  # --help, --version and unknown commands exit here
    p.print_help(sys.stderr)  # no command given
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
