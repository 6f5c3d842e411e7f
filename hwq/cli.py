"""The ``hwq`` command line. Every stage is a subcommand that reads and writes files.

Errors that a user can fix (bad config, bad format string, existing output folder, missing tool)
are printed as one line ``hwq <command>: error: ...`` with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

#: subcommand modules under hwq.commands, in the order ``hwq --help`` lists them.
COMMANDS = ["train", "calibrate", "emit", "verify", "trace", "flow"]


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every registered subcommand."""
    import hwq

    parser = argparse.ArgumentParser(prog="hwq", description="Bit-accurate quantised NNs to verified hardware.")
    parser.add_argument("--version", action="version", version=f"hwq {hwq.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"hwq.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"hwq.commands.{name}":
                continue  # not built yet in this version
            raise
        mod.register(sub)
    return parser


def command_line(argv: list[str]) -> str:
    """The command as typed, for headers of generated files."""
    return "hwq " + " ".join(shlex.quote(a) for a in argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hwq`` console script; returns the exit code."""
    from hwq.formats import parse  # noqa: F401  (fail early if the package is broken)
    from hwq.io import OutputExistsError
    from hwq.ir.graph import GraphError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = command_line(argv)
    try:
        rc = args.func(args)
    except (UserError, OutputExistsError, GraphError, FileNotFoundError, ValueError) as e:
        print(f"hwq {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hwq {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
