"""``hwq emit {hls,rtl,mcu} --ir RUN/graph.json --out DIR``: generate hardware sources from an IR graph.

Each target package exposes ``emit(graph, out_dir, *, command, **options) -> list[Path]``; it writes
the sources and a copy of the graph as ``DIR/graph.json`` (which ``hwq verify`` reads). Options come from
``-O KEY=VALUE``; ``--io stream|parallel`` (rtl only) is the same as ``-O io=...``: streamed convolutions
and pooling (one pixel per beat through line buffers, the default) or one beat per tensor everywhere.
"""

from __future__ import annotations

import importlib

TARGETS = ("hls", "rtl", "mcu")


def register(sub) -> None:
    p = sub.add_parser("emit", help="generate HLS C++, Verilog or MCU C from an IR graph")
    p.add_argument("target", choices=TARGETS)
    p.add_argument("--ir", required=True, help="IR graph file (RUN/graph.json)")
    p.add_argument("--out", required=True, help="output folder (refused if non-empty unless --force)")
    p.add_argument("--force", action="store_true", help="overwrite files in a non-empty output folder")
    p.add_argument(
        "--option",
        "-O",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="emitter option, e.g. -O strategy=resource -O reuse_factor=4 (hls), -O pipeline=2 (rtl)",
    )
    p.add_argument(
        "--io",
        choices=("stream", "parallel"),
        default=None,
        help="rtl: stream convolutions/pooling one pixel per beat through line buffers (default) or "
        "parallel (whole tensor per beat)",
    )
    p.set_defaults(func=run)


def parse_options(items: list[str]) -> dict:
    """KEY=VALUE strings to a dict; integers and booleans are converted."""
    from hwq.cli import UserError

    out = {}
    for it in items:
        if "=" not in it:
            raise UserError(f"option {it!r} is not KEY=VALUE")
        k, v = it.split("=", 1)
        if v.lower() in ("true", "false"):
            out[k] = v.lower() == "true"
        else:
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = v
    return out


def run(args) -> int:
    from hwq.cli import UserError
    from hwq.io import prepare_out_dir
    from hwq.ir.serialize import load

    options = parse_options(args.option)
    if getattr(args, "io", None) is not None:
        if args.target != "rtl":
            raise UserError(f"--io applies to the rtl target only, not {args.target}")
        if options.get("io", args.io) != args.io:
            raise UserError(f"--io {args.io} contradicts -O io={options['io']}")
        options["io"] = args.io
    graph = load(args.ir)
    out = prepare_out_dir(args.out, args.force)
    try:
        target = importlib.import_module(f"hwq.{args.target}")
        emit = target.emit
    except (ImportError, AttributeError):
        raise UserError(f"the {args.target} emitter is not available in this version of hwq") from None
    files = emit(graph, out, command=args.command_line, **options)
    print(f"emit {args.target}: wrote {len(files)} files to {out}")
    return 0
