"""``hwq cost GRAPH --target T`` (a cost table per layer) and ``hwq cost calibrate --target T``.

``hwq cost RUN/graph.json --target xc7`` prints the FPGA estimate of the multiplier-free Verilog
(``-O pipeline=2 -O io=parallel -O adders=shallow`` as for ``hwq emit rtl``; ``--backend hls`` for the
HLS C++ with ``-O reuse_factor=4 -O strategy=resource``); ``--target cortex-m4|cortex-m7|cortex-m55`` prints
the microcontroller estimate (instructions, MACs, flash, peak SRAM from the MCU memory planner) of the
program ``hwq emit mcu`` builds, with its ``-O`` options (``-O patches=4x4 -O halo=cache``, ``-O sram=BYTES``:
the patch-based stage, its arena, geometry tables and loop code).
``--fast`` prices the Verilog with the fast digit-count estimate (``exact=False``: no CSE run, what ``hwq
explore`` searches with). ``--json FILE`` also writes the full result (refused if FILE exists, unless
--force).

``hwq cost calibrate --target xc7|ice40`` synthesises the calibration design set with yosys (parallel,
cached by design hash under $HWQ_COST_CACHE or the system temp folder), fits the target's coefficients
on at most 12 designs, writes them with the date and tool version into the target file (the packaged
one, or ``--target-file FILE``), prints the held-out accuracy against the bit-operations proxy and
writes ``--report FILE`` (JSON) and ``--plot FILE`` (PNG, predicted vs synthesised LUTs).

``hwq cost calibrate --target cortex-m4|cortex-m7|cortex-m55`` (``hwq.cost.mcu_calibrate``) counts the
instructions of every runtime kernel on random layer shapes under QEMU (when ``qemu-system-arm`` is
installed; the CPU's board: mps2-an386, mps2-an500, mps3-an547), links ``--models`` random models with
arm-none-eabi-gcc, fits the per-kernel instruction formulas and the flash table, writes them (with the
date, compiler and QEMU versions and the sample counts) into the target file, and prints the held-out
errors; ``--plot`` draws estimate vs measured for both. About 80 s for one CPU on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    """Add the ``cost`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "cost",
        help="FPGA / microcontroller cost estimate per layer; 'hwq cost calibrate' fits a target (yosys / QEMU)",
        description=__doc__,
        examples=[
            "hwq cost runs/mlp4/graph.json --target xc7",
            "hwq cost runs/mlp4/graph.json --target ice40 -O pipeline=2 --json cost.json",
            "hwq cost runs/cnn/graph.json --target cortex-m55",
            "hwq cost runs/cnn/graph.json --target cortex-m4 -O patches=2x2 -O halo=cache",
            "hwq cost calibrate --target xc7 --plot cost_xc7.png --report cost_xc7.json",
            "hwq cost calibrate --target cortex-m7 --target-file my-m7.toml --plot m7.png",
        ],
    )
    p.add_argument("graph", help="IR graph file (RUN/graph.json), or the word 'calibrate'")
    p.add_argument("--target", required=True, help="xc7, ice40, cortex-m4, cortex-m7, cortex-m55 or a target .toml")
    p.add_argument("--backend", choices=["rtl", "hls"], default="rtl", help="FPGA generator to price (default rtl)")
    p.add_argument("-O", dest="options", action="append", default=[], metavar="KEY=VALUE", help="emitter option")
    p.add_argument(
        "--fast",
        action="store_true",
        help="FPGA rtl: the fast digit-count estimate (no CSE run, milliseconds; what hwq explore searches with)",
    )
    p.add_argument("--json", help="also write the full result as JSON to this file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json/--report/--plot file")
    p.add_argument("--target-file", help="calibrate: write the fitted target here instead of the packaged file")
    p.add_argument("--report", help="calibrate: write the accuracy report (JSON) here")
    p.add_argument("--plot", help="calibrate: write the scatter plot (PNG) here")
    p.add_argument("--jobs", type=int, default=None, help="calibrate: parallel yosys runs / links (default: cores)")
    p.add_argument(
        "--models", type=int, default=None, help="calibrate, MCU targets: random models linked for the flash fit (90)"
    )
    p.add_argument("--cached-only", action="store_true", help="calibrate: use only designs already synthesised")
    p.add_argument(
        "--fit-only", action="store_true", help="calibrate: synthesise only the fitted designs (held out: cached ones)"
    )
    p.add_argument(
        "--allow-stale",
        action="store_true",
        help="calibrate: reuse a design's synthesis from an earlier emitter text when its Verilog is not cached",
    )
    p.set_defaults(func=run)


def _options(items: list[str]) -> dict:
    from hwq.cli import UserError

    out: dict = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"-O {item}: expected KEY=VALUE, e.g. -O pipeline=2")
        k, v = item.split("=", 1)
        out[k.strip()] = int(v) if v.strip().lstrip("-").isdigit() else v.strip()
    return out


def _check_new(path: str | None, force: bool) -> None:
    from hwq.cli import UserError

    if path and Path(path).exists() and not force:
        raise UserError(f"{path}: exists; use --force to overwrite")


def _table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else f"{c:,}" if isinstance(c, int) else str(c) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args) -> int:
    """Run ``hwq cost`` (see the module docstring)."""
    from hwq.cli import UserError
    from hwq.cost import fpga, load_target, mcu
    from hwq.io import atomic_write

    for path in (args.json, args.report, args.plot, args.target_file):
        _check_new(path, args.force)
    if args.graph == "calibrate":
        return _calibrate(args)
    from hwq.ir.serialize import load

    gpath = Path(args.graph)
    if not gpath.exists():
        raise UserError(f"{gpath}: no such graph file")
    graph = load(gpath)
    tgt = load_target(args.target)
    kind = tgt["target"].get("kind")
    opts = _options(args.options)
    if "exact" in opts:
        raise UserError("-O exact=...: use --fast for the fast estimate (the exact one is the default)")
    if kind == "fpga":
        if args.fast and args.backend != "rtl":
            raise UserError("--fast applies to --backend rtl only (the HLS estimate is analytical already)")
        exact = {"exact": not args.fast} if args.backend == "rtl" else {}
        res = fpga(graph, tgt, backend=args.backend, **exact, **opts)
        keys = ["LUT", "FF", "CARRY", "DSP", "BRAM", "latency"] + (["ii"] if args.backend == "hls" else ["adders"])
    elif kind == "mcu":
        if args.fast:
            raise UserError("--fast applies to FPGA targets only")
        try:
            res = mcu(graph, tgt, **opts)
        except ValueError as e:
            raise UserError(str(e)) from None
        keys = ["instructions", "macs"]
    else:
        raise UserError(f"target {args.target!r}: unknown kind {kind!r}")
    rows = [[lay["name"]] + [lay.get(k) for k in keys] for lay in res["layers"]]
    total = res["total"]
    rows.append(["total"] + [total.get(k) for k in keys])
    if not args.quiet:
        note = ""
        if not res["calibrated"]:
            note = " (instructions: uncalibrated coefficients)" if kind == "mcu" else " (uncalibrated coefficients)"
        note += " (fast estimate: digit-count approximation, no CSE run)" if args.fast else ""
        print(f"cost of {graph.name!r} on {res['target']}{note}")
        print(_table(["layer"] + keys, rows))
        if kind == "mcu":
            if total.get("patch"):
                pa = total["patch"]
                print(
                    f"patch plan: split after {pa['split']}, grid {pa['grid'][0]}x{pa['grid'][1]}, halo {pa['halo']}, "
                    f"{pa['extra_macs']:,} MACs recomputed (as hwq emit mcu builds it with these -O options)"
                )
            print(
                f"flash {total['flash_bytes']:,} bytes (weights {total['flash_weight_bytes']:,}, code "
                f"{total['flash_code_bytes']:,}), peak SRAM {total['peak_sram_bytes']:,} bytes "
                f"(arena {total['arena_bytes']:,})"
            )
        elif not total.get("latency_exact", False):
            note = (
                "latency: approximate (fast estimate's adder levels, or a branching graph the emitter builds as "
                "a layer DAG: see rtl.json)"
            )
            print(note if args.backend == "rtl" else "")
    if args.json:
        atomic_write(Path(args.json), json.dumps(res, indent=1, default=str) + "\n")
    return 0


def _calibrate(args) -> int:
    from hwq.cli import UserError
    from hwq.cost import load_target
    from hwq.cost.calibrate import calibrate
    from hwq.io import atomic_write

    try:
        kind = load_target(args.target)["target"].get("kind")
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    if kind == "mcu":
        return _calibrate_mcu(args)
    if args.models is not None:
        raise UserError("--models applies to MCU targets (the FPGA design set is fixed)")
    log = (lambda *a, **k: None) if args.quiet else print
    rep = calibrate(
        args.target, out_file=args.target_file, plot_path=args.plot, jobs=args.jobs, log=log,
        cached_only=args.cached_only, fit_only=args.fit_only, strict=not args.allow_stale,
    )  # fmt: skip
    m, p = rep["model"], rep["proxy"]
    log(
        f"held out {m['designs']} designs: model Spearman {m['spearman']} (within shape groups >= "
        f"{m['spearman_within_min']}), median |error| {m['median_ape']} %, p90 {m['p90_ape']} %"
    )
    log(
        f"bit-operations proxy: Spearman {p['spearman']} (within >= {p['spearman_within_min']}), "
        f"median {p['median_ape']} %, p90 {p['p90_ape']} %"
    )
    log(
        f"pairs within shape groups ordered (yosys LUTs > {m['tie_percent']} % apart): model {m['pairs_ordered']}, "
        f"proxy {p['pairs_ordered']}"
    )
    log(
        f"FF exact on {rep['ff_exact']} designs (median error {rep['ff_median_ape']} %); wall {rep['wall_seconds']} s, "
        f"{rep['synthesised_now']} designs synthesised now; yosys CPU of all designs {rep['synth_cpu_seconds_all']} s"
    )
    if rep["stale_verilog"]:
        log(f"{rep['stale_verilog']} designs use a synthesis of an earlier emitter text (--allow-stale)")
    log(f"coefficients written to {rep['target_file']}")
    if args.report:
        atomic_write(Path(args.report), json.dumps(rep, indent=1) + "\n")
    return 0


def _calibrate_mcu(args) -> int:
    """``hwq cost calibrate`` of a Cortex-M target (``hwq.cost.mcu_calibrate``)."""
    from hwq.cli import UserError
    from hwq.cost.mcu_calibrate import DEFAULT_MODELS, McuCalibrationError, calibrate_mcu, plot
    from hwq.io import atomic_write

    for flag in ("cached_only", "fit_only", "allow_stale"):
        if getattr(args, flag):
            raise UserError(f"--{flag.replace('_', '-')} applies to FPGA targets (yosys syntheses)")
    models = DEFAULT_MODELS if args.models is None else args.models
    if models < 6:
        raise UserError(f"--models {models}: the flash fit needs at least 6 models (two of three are fitted)")
    log = (lambda *a, **k: None) if args.quiet else print
    try:
        rep = calibrate_mcu(args.target, out_file=args.target_file, models=models, jobs=args.jobs, log=log)
    except McuCalibrationError as e:
        raise UserError(str(e)) from None
    ins, fl = rep["instructions"], rep["flash"]
    if "skipped" in ins:
        log(f"instructions: not measured ({ins['skipped']})")
    else:
        log(f"instructions: formulas fitted on {ins['fit_calls']} QEMU-counted calls; held out:")
        log(_table(["kernels", "shapes", "median |error| %", "max |error| %"],
                   [[r["group"], r["shapes"], r["median_pct"], r["max_pct"]] for r in ins["holdout"]]))  # fmt: skip
    log(
        f"flash: fitted on {fl['fit_models']} linked models; held out {fl['held_out_models']}: median |error| "
        f"{fl['median_abs_error_pct']} %, range {fl['min_error_pct']} .. {fl['max_error_pct']} % (at most "
        f"{fl['max_abs_error_bytes']} bytes), within 1 %: {fl['within_1pct']}"
    )
    if fl.get("patch"):
        pa = fl["patch"]
        log(
            f"flash of patch programs: loop fitted on {pa['fit_programs']}; held out {pa['held_out_programs']}: median "
            f"|error| {pa['median_abs_error_pct']} %, range {pa['min_error_pct']} .. {pa['max_error_pct']} %, "
            f"within 1 %: {pa['within_1pct']}"
        )
    log(f"wall {rep['wall_seconds']} s; tables written to {rep['target_file']}")
    if args.plot:
        log(f"plot: {plot(rep, args.plot)}")
    if args.report:
        atomic_write(Path(args.report), json.dumps(rep, indent=1) + "\n")
    return 0
