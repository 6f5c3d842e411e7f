"""``hwq calibrate --model MODEL --config FILE --out RUN``: post-training quantisation without retraining.

MODEL is ``mlp`` or ``cnn`` (the built-in digits reference model, trained in float here), a checkpoint
written by ``hwq train`` (its float weights are used), or a ``.pt`` file holding a pickled float
``nn.Sequential``. The config's ``[quant]`` formats and ``[ptq]`` calibrator are applied; outputs as
``hwq train`` (RUN/model.pt, RUN/graph.json, RUN/summary.json).
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="post-training quantisation of a float model (no retraining)")
    p.add_argument("--model", required=True, help="mlp | cnn | RUN/model.pt (from hwq train) | FILE.pt (pickled model)")
    p.add_argument("--config", required=True, help="run config (.toml or .json) with [quant] and [ptq]")
    p.add_argument("--out", required=True, help="output folder (refused if non-empty unless --force)")
    p.add_argument("--force", action="store_true", help="overwrite files in a non-empty output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from hwq.train import load_config
    from hwq.train.calibrate import calibrate_from_config

    cfg = load_config(args.config)
    s = calibrate_from_config(cfg, args.model, args.out, progress=not args.no_progress, force=args.force)
    a = s["accuracy"]
    ex = s["emulator_vs_ir"]
    print(
        f"calibrate {s['name']}: accuracy float {a['float']:.2f}%, quantized {a['quantized']:.2f}% "
        f"({s['config']['ptq']['calibrator']}); emulator vs IR: {ex['vectors']} vectors, "
        f"{ex['mismatches']} mismatches; wrote {args.out}"
    )
    return 0 if ex["mismatches"] == 0 else 1
