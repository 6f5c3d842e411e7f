"""The ``hwq`` command line. Every stage is a subcommand that reads and writes files.

Conventions shared by every subcommand (``add_command`` sets them up):

- ``hwq COMMAND --help`` shows the command's options and at least one example.
- ``-q/--quiet`` prints nothing but errors (the exit code carries the result); ``-v/--verbose`` prints more
  detail, and the traceback of an internal error; ``--no-progress`` (implied by ``--quiet`` and by a
  stdout that is not a terminal) turns progress bars off.
- Exit codes: 0 success, 1 a check failed (e.g. mismatches), 2 a user error (bad file, key, format
  string, option, existing output folder, missing tool, a failed external build/simulation, see its log),
  3 an internal error (a bug in hwq), 130 Ctrl-C.
- A user error is printed as one line ``hwq COMMAND: error: ...`` naming the file, JSON path, key, layer
  or option at fault; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
import traceback

#: subcommand modules under hwq.commands, in the order ``hwq --help`` lists them.
COMMANDS = ["train", "calibrate", "import_model", "emit", "verify", "vectors", "trace", "explore", "cost", "flow"]

#: errors of external tools and builds (missing g++/Verilator/yosys, a failed build or simulation run, a
#: folder not written by ``hwq emit``): user/environment errors, exit 2 (matched by class name so that the
#: CLI imports no simulator module)
TOOL_ERRORS = frozenset({"ToolMissing", "CsimError", "SimulationError", "McuRunError"})

#: exit codes
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UserError(Exception):
    """An error caused by the user's input; printed as one line without a traceback (exit code 2)."""


class HwqParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``hwq CMD: error: ... (see hwq CMD --help)``)."""

    #: called by ``format_help`` to append text computed only when help is shown (e.g. emitter options)
    epilog_extra = None

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def format_help(self) -> str:
        if callable(self.epilog_extra):
            extra, self.epilog_extra = self.epilog_extra(), None
            self.epilog = f"{self.epilog}\n\n{extra}" if self.epilog else extra
        return super().format_help()


def add_common_options(p: argparse.ArgumentParser, *, out: bool = False) -> argparse.ArgumentParser:
    """Add the options every subcommand takes: ``-q/--quiet``, ``-v/--verbose``, ``--no-progress``, and,
    with ``out=True``, ``--out DIR`` (required) and ``--force``. Returns ``p``."""
    g = p.add_argument_group("common options")
    g.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors; the exit code tells")
    g.add_argument("-v", "--verbose", action="store_true", help="print more detail (and tracebacks of internal errors)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (also when stdout is not a terminal)")
    if out:
        g.add_argument("--out", required=True, help="output folder (refused if not empty unless --force)")
        g.add_argument("--force", action="store_true", help="write into a non-empty output folder, replacing files")
    return p


def add_command(
    sub,
    name: str,
    *,
    help: str,
    examples: list[str],
    description: str | None = None,
    out: bool = False,
    epilog: str = "",
) -> argparse.ArgumentParser:
    """Create the parser of subcommand ``name`` under ``sub`` (the subparsers of ``hwq``).

    ``help``: the one line ``hwq --help`` shows; ``examples``: command lines shown by ``hwq NAME --help``
    (at least one); ``description``: longer text (e.g. the command module's docstring); ``out``: add
    ``--out``/``--force``; ``epilog``: extra text after the examples. The common options
    (``add_common_options``) are always added. Call ``p.set_defaults(func=run)`` on the result.
    """
    if not examples:
        raise ValueError(f"hwq {name}: add_command needs at least one example")
    text = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    if epilog:
        text += "\n\n" + epilog
    p = sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(p, out=out)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every registered subcommand."""
    import hwq

    parser = HwqParser(
        prog="hwq",
        description="Bit-accurate quantised NNs to verified hardware. 'hwq COMMAND --help' shows examples.",
    )
    parser.add_argument("--version", action="version", version=f"hwq {hwq.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=HwqParser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"hwq.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"hwq.commands.{name}":
                continue  # not built yet in this version
            raise
        mod.register(sub)
    return parser


def command_line(argv: list[str], out_dir=None) -> str:
    """The command for headers of generated files: as typed, with paths relative to the output folder
    ``out_dir`` (``hwq.io.relative_command``), so the same command run elsewhere writes the same bytes."""
    from hwq.io import relative_command

    return relative_command(argv, out_dir)


def _user_error_types() -> tuple[type[BaseException], ...]:
    from hwq.io import OutputExistsError
    from hwq.ir.graph import GraphError

    return (UserError, OutputExistsError, GraphError, ValueError, OSError)


def error_message(e: BaseException) -> str:
    """The text of a user error, naming the file for OS errors (``FILE: reason``)."""
    if isinstance(e, OSError) and getattr(e, "filename", None) and not isinstance(e, UserError):
        reason = e.strerror or str(e)
        return f"{e.filename}: {reason}"
    text = str(e) or type(e).__name__
    return text


def _one_line(text: str, verbose: bool) -> str:
    lines = [s for s in str(text).splitlines() if s.strip()] or [""]
    if verbose or len(lines) == 1:
        return "\n".join(lines)
    return lines[0] + " (more with --verbose)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hwq`` console script; returns the exit code (see the module docstring)."""
    from hwq.formats import parse  # noqa: F401  (fail early if the package is broken)

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors (already printed, one line)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    args.command_line = command_line(argv, getattr(args, "out", None))
    quiet = bool(getattr(args, "quiet", False))
    verbose = bool(getattr(args, "verbose", False)) and not quiet
    args.verbose = verbose
    args.progress = not (quiet or getattr(args, "no_progress", False) or not _isatty(sys.stdout))
    user_errors = _user_error_types()
    sink = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    try:
        with sink:
            rc = args.func(args)
    except KeyboardInterrupt:
        print(f"hwq {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except user_errors as e:
        print(f"hwq {args.command}: error: {_one_line(error_message(e), verbose)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print(f"hwq {args.command}: error: out of memory (is an input or a shape far too large?)", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # a tool's failure (exit 2), else a bug: still one line unless --verbose
        if any(c.__name__ in TOOL_ERRORS for c in type(e).__mro__):
            print(f"hwq {args.command}: error: {_one_line(error_message(e), verbose)}", file=sys.stderr)
            return EXIT_USAGE
        if verbose:
            traceback.print_exc()
        msg = _one_line(f"{type(e).__name__}: {e}", False)
        print(
            f"hwq {args.command}: internal error: {msg} (a bug in hwq; rerun with --verbose for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return int(rc or 0)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


if __name__ == "__main__":
    # ``python -m hwq.cli``: run the imported module's main, so that ``hwq.cli.UserError`` raised by the
    # commands is the class main() catches (this file runs as ``__main__``, a second copy of the module)
    from hwq.cli import main as _main

    sys.exit(_main())
