"""``hwq emit {hls,rtl,mcu} --ir RUN/graph.json --out DIR``: generate hardware sources from an IR graph.

Each target package exposes ``emit(graph, out_dir, *, command, **options) -> list[Path]``; it writes
the sources and a copy of the graph as ``DIR/graph.json`` (which ``hwq verify`` reads). Every target takes
its options the same way, ``-O KEY=VALUE`` (repeatable), listed by ``hwq emit TARGET --help``; values are
converted to the type of the option's default. ``--io stream|parallel`` (rtl only) is the same as
``-O io=...``. The folder is written all-or-nothing: into a hidden temp sibling, moved into place when the
emitter succeeds, removed on any error (no half-written or empty folder is left behind).
"""

from __future__ import annotations

import importlib
import inspect

TARGETS = ("hls", "rtl", "mcu")

_HELP = {
    "hls": "Vitis HLS C++ project (ap_fixed), bit-exact with hwq.ir.run",
    "rtl": "multiplier-free Verilog-2005 with AXI-stream ports",
    "mcu": "C99 calling CMSIS-NN for a Cortex-M, with a static memory plan",
}

#: option -> (default, help) per target, for options an emitter takes through ``**options`` and as help text
#: of its keyword parameters. A target package can add its own in a module-level ``EMIT_OPTIONS`` dict
#: ({name: help}); keyword-only parameters of its ``emit`` are always listed with their defaults.
_OPTION_HELP: dict[str, dict[str, tuple[object, str]]] = {
    "hls": {
        "strategy": ("latency", "latency | resource | stream (pragmas only; same arithmetic)"),
        "reuse_factor": (1, "multiplications per multiplier (resource strategy)"),
        "part": (None, "FPGA part written into build.tcl"),
        "clock_period": (None, "clock period in ns written into build.tcl"),
        "tb_vectors": (64, "sample vectors written to tb_data/"),
        "seed": (None, "seed of the sample vectors"),
    },
    "rtl": {
        "pipeline": (1, "register every N adder levels (0: output registers only)"),
        "top": (None, "top module name (default hwq_<graph name>)"),
        "io": ("stream", "stream (convs/pools one pixel per beat) | parallel (one beat per tensor)"),
        "adders": ("balanced", "balanced (levels of the plain adder tree) | fewest (deeper) | shallow"),
        "standalone_layers": (False, "1: every layer module exact for every value of its input format"),
        "tb_vectors": (200, "golden vectors of the exported bench folder OUT/tb (0: no bench)"),
    },
    "mcu": {
        "scratch": (
            "cmsis-nn",
            "cmsis-nn | portable: size kernel scratch buffers for any CMSIS-NN build or the portable runtime",
        ),
        "patches": ("none", "none | auto | RxC: run the leading CNN stage patch by patch on an R x C grid"),
        "split": ("auto", "auto | OP: the last op of the patch-based stage"),
        "sram": (0, "peak SRAM budget in bytes (0: none); the plan with the fewest instructions that fits"),
        "halo": (
            "auto",
            "recompute | rows | cache | auto: recompute patch overlaps, carry rows down, carry rows and columns "
            "(nothing recomputed), or choose per layer",
        ),
        "input": (
            "sram",
            "sram | stream: the patch loop reads the whole input array, or fetches each input window through "
            "hwq_<model>_read_input_window (you implement it; the image is then not in SRAM)",
        ),
    },
}

_EXAMPLES = {
    "hls": ["hwq emit hls --ir runs/mlp4/graph.json --out runs/mlp4-hls -O strategy=resource -O reuse_factor=4"],
    "rtl": ["hwq emit rtl --ir runs/mlp4/graph.json --out runs/mlp4-rtl -O pipeline=2 --io parallel"],
    "mcu": [
        "hwq emit mcu --ir runs/mlp4/graph.json --out runs/mlp4-mcu -O scratch=portable",
        "hwq emit mcu --ir runs/cnn/graph.json --out runs/cnn-mcu -O patches=auto -O sram=65536",
    ],
}


def emit_options(target: str) -> dict[str, tuple[object, str]]:
    """The ``-O`` options of ``target``: name -> (default, help). Keyword-only parameters of the target's
    ``emit`` (their defaults), the target package's ``EMIT_OPTIONS`` and the known ``**options`` keys."""
    out = dict(_OPTION_HELP.get(target, {}))
    try:
        mod = importlib.import_module(f"hwq.{target}")
        fn = mod.emit
    except Exception:  # not built in this version, or broken: list the known options only
        return out
    for name, help_text in (getattr(mod, "EMIT_OPTIONS", None) or {}).items():
        out[name] = (out.get(name, (None, ""))[0], str(help_text))
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return out
    for p in params:
        if p.kind is p.KEYWORD_ONLY and p.name != "command":
            default = None if p.default is p.empty else p.default
            out[p.name] = (default, out.get(p.name, (None, ""))[1])
    return out


def _options_epilog(target: str) -> str:
    opts = emit_options(target)
    if not opts:
        return f"-O options: none known ({target} emitter not available in this version)"
    lines = ["-O options (KEY=VALUE, repeatable):"]
    for name, (default, text) in sorted(opts.items()):
        d = "" if default is None else f" (default {default})"
        lines.append(f"  {name:<14} {text}{d}")
    return "\n".join(lines)


def register(sub) -> None:
    """Add ``hwq emit TARGET`` (one sub-parser per target, each listing its ``-O`` options)."""
    from hwq.cli import HwqParser, add_command

    p = add_command(
        sub,
        "emit",
        help="generate HLS C++, Verilog or MCU C from an IR graph",
        description=__doc__,
        examples=[e for t in TARGETS for e in _EXAMPLES[t]],
        epilog="'hwq emit TARGET --help' lists the target's -O options.",
    )
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET", parser_class=HwqParser)
    for t in TARGETS:
        tp = add_command(
            targets,
            t,
            help=_HELP[t],
            description=f"hwq emit {t}: {_HELP[t]}.\n\n" + __doc__.split("\n\n", 1)[1],
            examples=_EXAMPLES[t],
            out=True,
        )
        tp.epilog_extra = lambda t=t: _options_epilog(t)  # imports the emitter only when help is shown
        tp.add_argument("--ir", required=True, help="IR graph file (RUN/graph.json)")
        tp.add_argument(
            "--option",
            "-O",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="emitter option (listed below), e.g. " + _EXAMPLES[t][0].split(" -O ", 1)[-1].split(" ")[0],
        )
        if t == "rtl":
            tp.add_argument(
                "--io",
                choices=("stream", "parallel"),
                default=None,
                help="stream convolutions/pooling one pixel per beat through line buffers (default) or "
                "parallel (whole tensor per beat); same as -O io=...",
            )
        tp.set_defaults(func=run)


def _convert(key: str, value: str, default):
    from hwq.cli import UserError

    low = value.lower()
    if isinstance(default, bool) or (default is None and low in ("true", "false")):
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise UserError(f"-O {key}={value}: expected true or false")
        return low in ("true", "1", "yes")
    if isinstance(default, int) or default is None:
        try:
            return int(value)
        except ValueError:
            if isinstance(default, int):
                raise UserError(f"-O {key}={value}: expected an integer") from None
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            raise UserError(f"-O {key}={value}: expected a number") from None
    return value


def parse_options(items: list[str], target: str | None = None) -> dict:
    """``KEY=VALUE`` strings to a dict; values take the type of the option's default for ``target``
    (integers and booleans are recognised for options without a known default)."""
    from hwq.cli import UserError

    known = emit_options(target) if target else {}
    out = {}
    for it in items:
        if "=" not in it:
            raise UserError(f"option {it!r} is not KEY=VALUE")
        k, v = it.split("=", 1)
        if not k:
            raise UserError(f"option {it!r} has an empty KEY")
        if known and k not in known:
            raise UserError(f"-O {k}: unknown {target} emitter option; known: {', '.join(sorted(known))}")
        out[k] = _convert(k, v, known.get(k, (None, ""))[0])
    return out


def run(args) -> int:
    """Run ``hwq emit TARGET``: 0 on success (the folder is complete), 2 on an error (nothing written)."""
    from hwq.cli import UserError
    from hwq.io import staged_out_dir
    from hwq.ir.serialize import load

    options = parse_options(args.option, args.target)
    if getattr(args, "io", None) is not None:
        if options.get("io", args.io) != args.io:
            raise UserError(f"--io {args.io} contradicts -O io={options['io']}")
        options["io"] = args.io
    graph = load(args.ir)
    try:
        target = importlib.import_module(f"hwq.{args.target}")
        emit = target.emit
    except (ImportError, AttributeError):
        raise UserError(f"the {args.target} emitter is not available in this version of hwq") from None
    with staged_out_dir(args.out, args.force) as tmp:
        files = emit(graph, tmp, command=args.command_line, **options)
        if not files:
            raise UserError(f"the {args.target} emitter wrote no files for {args.ir}")
    if args.verbose:
        for f in sorted(files):
            print(f"  {args.out}/{f.relative_to(tmp) if f.is_relative_to(tmp) else f.name}")
    print(f"emit {args.target}: wrote {len(files)} files to {args.out}")
    return 0
