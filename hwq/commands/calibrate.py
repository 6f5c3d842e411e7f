"""``hwq calibrate --model MODEL --config FILE --out RUN``: post-training quantisation without retraining.

MODEL is ``mlp`` or ``cnn`` (the built-in digits reference model, trained in float here), a checkpoint
written by ``hwq train`` (its float weights are used), or a ``.pt`` file holding a pickled float
``nn.Sequential``. The config's ``[quant]`` formats and ``[ptq]`` calibrator are applied; outputs as
``hwq train`` (RUN/model.pt, RUN/graph.json, RUN/summary.json).
"""

from __future__ import annotations


def register(sub) -> None:
    """Add the ``calibrate`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "calibrate",
        help="post-training quantisation of a float model (no retraining)",
        description=__doc__,
        examples=[
            "hwq calibrate --model runs/mlp4/model.pt --config examples/mlp_e4m3_ptq.toml --out runs/mlp-e4m3",
            "hwq calibrate --model mlp --config examples/mlp_fixed4w_gptq_ptq.toml --out runs/mlp-gptq",
        ],
        out=True,
    )
    p.add_argument("--model", required=True, help="mlp | cnn | RUN/model.pt (from hwq train) | FILE.pt (pickled model)")
    p.add_argument("--config", required=True, help="run config (.toml or .json) with [quant] and [ptq]")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``hwq calibrate``: 0 when the emulator equals the IR on the test split, else 1."""
    from hwq.train.calibrate import calibrate_from_config

    from .train import config_errors, read_config

    cfg = read_config(args.config)
    with config_errors(args.config):
        s = calibrate_from_config(cfg, args.model, args.out, progress=args.progress, force=args.force)
    a = s["accuracy"]
    ex = s["emulator_vs_ir"]
    print(
        f"calibrate {s['name']}: accuracy float {a['float']:.2f}%, quantized {a['quantized']:.2f}% "
        f"({s['config']['ptq']['calibrator']}); emulator vs IR: {ex['vectors']} vectors, "
        f"{ex['mismatches']} mismatches; wrote {args.out}"
    )
    return 0 if ex["mismatches"] == 0 else 1
