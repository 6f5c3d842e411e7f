"""``hwq verify {hls,rtl,mcu} DIR [--vectors N]``: build and simulate emitted sources, compare every
output integer with ``hwq.ir.run`` on ``DIR/graph.json``.

Ends with ``verify X: N vectors, M mismatches``, writes ``DIR/verify.json``, exits 0 only when M is 0.
"""

from __future__ import annotations

import json

from .emit import TARGETS


def register(sub) -> None:
    """Add the ``verify`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "verify",
        help="simulate emitted sources and compare bit-exactly with the interpreter",
        description=__doc__,
        examples=[
            "hwq verify hls runs/demo/hls --vectors 2000",
            "hwq verify rtl runs/demo/rtl --vectors 1000 --simulator verilator",
            "hwq verify mcu runs/demo/mcu --vectors 2000 --target cortex-m4",
        ],
    )
    p.add_argument("target", choices=TARGETS)
    p.add_argument("dir", help="folder written by 'hwq emit'")
    p.add_argument(
        "--vectors",
        type=_vector_count,
        default=2000,
        help="number of random input vectors (default 2000), or 'auto': random plus directed vectors until "
        "every reachable coverage item (accumulator saturation, output min/max, rounding ties) is hit",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    p.add_argument(
        "--vectors-file",
        default=None,
        help="input vectors from this file instead of random ones: .npy / .hex (an RTL bench's tb/inputs.*, "
        "same for every target) or .npz ('hwq vectors')",
    )
    p.add_argument(
        "--simulator",
        default="auto",
        choices=("auto", "icarus", "verilator"),
        help="rtl only; auto (default, as hwq flow) = Icarus when installed, else Verilator",
    )
    p.add_argument(
        "--backpressure",
        type=float,
        default=None,
        help="rtl only: probability that m_axis_tready is low in a cycle (default 0.3; idle input gaps alike)",
    )
    p.add_argument(
        "--waves",
        action="store_true",
        help="rtl only: dump waveforms to DIR/waves.fst (Icarus) or DIR/waves.vcd (Verilator)",
    )
    p.add_argument(
        "--target",
        dest="mcu_target",
        default="host",
        choices=("host", "cortex-m4", "cortex-m7", "cortex-m55"),
        help="mcu only: host gcc build (default) or Cortex-M4 / M7 / M55 in QEMU (per-layer instruction counts)",
    )
    p.set_defaults(func=run)


def _vector_count(text: str):
    """``--vectors``: a positive count or ``auto``."""
    import argparse

    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of vectors or 'auto', got {text!r}") from None


def _check_mcu_dir(path) -> None:
    """One-line UserError naming what an MCU folder lacks (before anything is built)."""
    from pathlib import Path

    from hwq.cli import UserError

    d = Path(path)
    if not d.is_dir():
        raise UserError(f"{d}: no such folder (write it with 'hwq emit mcu --ir G --out {d}')")
    missing = [n for n in ("graph.json", "mcu.json", "hwq_model.h") if not (d / n).is_file()]
    if not missing and not any(d.glob("hwq_*.c")):
        missing = ["hwq_<model>.c"]
    if missing:
        raise UserError(f"{d}: not an 'hwq emit mcu' folder, missing {', '.join(missing)}")


def run(args) -> int:
    """Run ``hwq verify``: 0 when every output integer matches, 1 on a mismatch."""
    from hwq.cli import UserError
    from hwq.sim.verify import verify

    if args.vectors != "auto" and args.vectors < 1:
        raise UserError(f"--vectors must be at least 1, got {args.vectors}")
    kw = {}
    if args.target == "rtl":
        from hwq.sim.rtlsim import default_simulator

        kw["simulator"] = default_simulator() if args.simulator == "auto" else args.simulator
        kw["waves"] = args.waves
        if args.backpressure is not None:
            if not 0 <= args.backpressure < 1:
                raise UserError(f"--backpressure must be in [0, 1), got {args.backpressure}")
            kw["backpressure"] = kw["gap"] = args.backpressure
    elif args.simulator != "auto" or args.waves or args.backpressure is not None:
        raise UserError(f"--simulator, --waves and --backpressure apply to the rtl target only, not {args.target}")
    if args.target == "mcu":
        _check_mcu_dir(args.dir)
        kw["target"] = args.mcu_target
    elif args.mcu_target != "host":
        raise UserError(f"--target applies to the mcu target only, not {args.target}")
    try:
        report = verify(
            args.target, args.dir, vectors=args.vectors, seed=args.seed, vectors_file=args.vectors_file, **kw
        )
    except (OSError, ValueError) as e:
        if args.vectors_file is None or str(args.vectors_file) not in str(e):
            raise
        raise UserError(str(e)) from None
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("hwq."):
            raise
        raise UserError(f"the {args.target} verifier is not available in this version of hwq ({e.name})") from None
    for line in report.detail_lines()[: None if args.verbose else 20]:
        print(line)
    if args.target == "mcu":
        for line in _mcu_profile_lines(args.dir, report.extra):
            print(line)
    for line in diagnosis_lines(report.extra):
        print(line)
    cov = report.extra.get("coverage") or {}
    if cov.get("items"):
        line = f"coverage: {cov['covered']} of {cov['reachable']} reachable items hit ({cov['items']} items)"
        if cov.get("missing"):
            line += "; not hit: " + ", ".join(cov["missing"][:8])
        if "random_vectors_same_coverage" in cov:
            r = cov["random_vectors_same_coverage"]
            line += f"; plain random vectors for the same items: {'> 20,000' if r is None else r}"
        print(line)
    tlast = int(report.extra.get("tlast_errors") or 0)  # rtl: output beats with a wrong m_axis_tlast
    if tlast:
        print(f"verify {args.target}: {tlast} output beats with a wrong m_axis_tlast (last beat of each vector)")
    print(f"verify {args.target}: {report.vectors} vectors, {report.mismatches} mismatches")
    return 0 if report.mismatches == 0 and report.vectors > 0 and not tlast else 1


def diagnosis_lines(extra: dict) -> list[str]:
    """First-mismatch report lines from a runner's figures (``first_mismatch``, ``first_diverging_layer``:
    dicts with vector, tensor, index, expected/got raw and real, cycle, time_ns) and the waveform file."""

    def one(m: dict) -> str:
        def val(k: str) -> str:
            r = m.get(f"{k}_real")
            return f"{m[f'{k}_raw']}" + ("" if r is None else f" (real {r:g})")

        at = "" if m.get("cycle") is None else f" at cycle {m['cycle']}"
        if m.get("time_ns") is not None:
            at += f" ({m['time_ns']:g} ns)"
        return f"vector {m['vector']}, {m['tensor']}[{m['index']}]: expected {val('expected')}, got {val('got')}{at}"

    lines = []
    if extra.get("first_mismatch"):
        lines.append("first mismatch: " + one(extra["first_mismatch"]))
    if extra.get("first_diverging_layer"):
        d = extra["first_diverging_layer"]
        errs = (extra.get("layer_errors") or {}).get(d.get("layer"))
        lines.append(
            f"first diverging layer: {d.get('layer')}"
            + ("" if errs is None else f" ({errs} mismatching elements)")
            + ": "
            + one(d)
        )
    if extra.get("waves"):
        lines.append(f"waves: {extra['waves']}")
    return lines


def _mcu_profile_lines(folder, extra: dict) -> list[str]:
    """Per-layer instruction counts and measured stack/arena of a QEMU run (``hwq verify mcu --target``)."""
    from pathlib import Path

    counts = extra.get("layer_instructions") or []
    if not counts:
        return []
    try:
        layers = json.loads((Path(folder) / "mcu.json").read_text())["layers"]
    except (OSError, ValueError, KeyError):
        layers = []
    lines = []
    for i, n in enumerate(counts[: len(layers)] if layers else counts):
        what = f"{layers[i]['function']} ({', '.join(layers[i]['ops']) or 'layout copy'})" if layers else ""
        lines.append(f"layer {i}: {n:,} instructions {what}".rstrip())
    lines.append(
        f"{extra.get('target')}: {extra.get('total_instructions', sum(counts)):,} instructions per inference, "
        f"stack {extra.get('stack_bytes')} bytes, arena {extra.get('arena_bytes')} bytes"
    )
    return lines


def load_report(path) -> dict:
    """Read a verify.json written by ``hwq verify``."""
    with open(path) as f:
        return json.load(f)
