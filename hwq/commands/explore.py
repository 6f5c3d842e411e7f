"""``hwq explore``: mixed-precision Pareto search of a model over per-layer number formats for a target.

Trains the config's float model, measures per-layer sensitivity (Hutchinson Hessian trace and one layer
at a time), sweeps an ILP (scipy milp) over budgets and runs NSGA-II (pymoo) over per-layer weight formats
(fixed, CSD, minifloat; int for MCU targets), activation and result widths; candidates are scored by PTQ
on the emulator, the front is refined by a short QAT fine-tune and measured on the test split. Writes
DIR/pareto.json, DIR/pareto.csv, DIR/pareto.png, DIR/chosen/graph.json (ready for ``hwq emit``) and
DIR/chosen/config.json, DIR/timing.json; evaluations are cached in DIR/cache (``--resume`` reuses it).
The same seed gives the same front (byte-identical pareto.json) whatever the executor and worker count.
"""

from __future__ import annotations

import sys


def register(sub) -> None:
    """Add the ``explore`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "explore",
        help="mixed-precision Pareto search (sensitivity, ILP, NSGA-II) across formats for a target",
        description=__doc__,
        examples=[
            "hwq explore --target xc7 --out runs/explore",
            "hwq explore --config examples/mlp_fixed8_qat.toml --target xc7 --budget LUT=60000 --out runs/ex",
            "hwq explore --target xc7 --space examples/space_fpga_small.toml --out runs/ex --resume",
            "hwq explore --target xc7 --executor ray --address auto --out runs/ex",
        ],
        out=True,
    )
    p.add_argument("--config", help="run config (.toml/.json) naming the model and training; default: digits MLP")
    p.add_argument("--target", default="xc7", help="xc7 | ice40 | cortex-m4 | cortex-m7 | cortex-m55 (default xc7)")
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        help="cost limits, e.g. LUT=60000 or SRAM=4096,instructions=2e5 (repeatable)",
    )
    p.add_argument("--space", help="space file (.toml) restricting the per-layer options (examples/space_*.toml)")
    p.add_argument("--seed", type=int, default=0, help="seed of training, calibration subset and NSGA-II (default 0)")
    p.add_argument("--executor", default="local", choices=["local", "ray"], help="where evaluations run")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: cores, at most 2)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--resume", action="store_true", help="continue in an existing DIR from its cache")
    p.add_argument("--objective", default="measured", choices=["measured", "hessian"], help="ILP sensitivity")
    p.add_argument(
        "--ilp-budgets",
        type=int,
        default=25,
        help="budgets in the ILP sweep (default 25; up to as many gap-filling solves follow)",
    )
    p.add_argument("--population", type=int, default=24, help="NSGA-II population (default 24)")
    p.add_argument("--generations", type=int, default=8, help="NSGA-II generations (default 8; 0 = ILP only)")
    p.add_argument("--refine-epochs", type=int, default=2, help="QAT epochs for each front point (default 2)")
    p.add_argument("--max-refine", type=int, default=24, help="front points refined by QAT at most (default 24)")
    p.add_argument(
        "--refine-ranks", type=int, default=2, help="non-dominated layers of the PTQ search refined (default 2)"
    )
    p.add_argument(
        "--precise",
        default="chosen",
        choices=["none", "chosen", "front"],
        help="refined points priced by the calibrated cost model too (slow; default: the chosen point)",
    )
    p.add_argument(
        "--fpga-cost",
        default="fast",
        choices=["fast", "exact", "proxy"],
        help="LUT model of FPGA search candidates: hwq.cost.fpga(exact=False) (default), hwq.cost.fpga (slow) "
        "or 5.4 LUTs per adder",
    )
    p.add_argument(
        "--refine-cost",
        default="exact",
        choices=["fast", "exact", "proxy"],
        help="LUT model of the QAT-refined FPGA points, on which the final front is taken (default exact)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``hwq explore``: 0 on success."""
    from hwq.cli import UserError
    from hwq.train import load_config

    cfg = load_config(args.config) if args.config else {}
    space = None
    if args.space:
        import tomllib
        from pathlib import Path

        path = Path(args.space)
        if not path.exists():
            raise UserError(f"--space {args.space}: no such file")
        try:
            space = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"{args.space}: cannot parse the space file: {e}") from None
    for name, val in (("--workers", args.workers), ("--ilp-budgets", args.ilp_budgets)):
        if val is not None and val < 1:
            raise UserError(f"{name}: must be >= 1, got {val}")
    from hwq.explore import explore

    if args.quiet or args.no_progress:
        progress = "none"
    else:
        progress = "bar" if sys.stderr.isatty() else "lines"
    explore(
        cfg,
        args.out,
        target=args.target,
        budgets=args.budget,
        space=space,
        seed=args.seed,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
        resume=args.resume,
        force=args.force,
        objective=args.objective,
        ilp_budgets=args.ilp_budgets,
        pop_size=args.population,
        generations=args.generations,
        refine_epochs=args.refine_epochs,
        max_refine=args.max_refine,
        refine_ranks=args.refine_ranks,
        precise=args.precise,
        fpga_cost=args.fpga_cost,
        refine_cost=args.refine_cost,
        progress=progress,
        log=print,
    )
    return 0
