"""``hwq train [--config FILE] --out RUN``: train (float, then QAT or PTQ) on the built-in digits data.

Without --config: the digits MLP 64-64-32-10 with 4-bit fixed point, learned binary points. Writes
RUN/model.pt, RUN/graph.json (the IR) and RUN/summary.json. The config is checked completely before
training starts; errors name the key.
"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("train", help="train a quantised model on the built-in data; write checkpoint, IR, summary")
    p.add_argument("--config", help="run config (.toml or .json); default: 4-bit learned-binary-point digits MLP")
    p.add_argument("--out", required=True, help="output folder (refused if non-empty unless --force)")
    p.add_argument("--force", action="store_true", help="overwrite files in a non-empty output folder")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from hwq.train import load_config, train_from_config

    cfg = load_config(args.config) if args.config else {}
    if args.seed is not None:
        cfg.setdefault("train", {})["seed"] = args.seed
    s = train_from_config(cfg, args.out, progress=not args.no_progress, force=args.force)
    a = s["accuracy"]
    ex = s["emulator_vs_ir"]
    print(
        f"train {s['name']}: accuracy float {a['float']:.2f}%, quantized {a['quantized']:.2f}% "
        f"({a['test_samples']} test samples); weights {s['bits']['weights']} bits; "
        f"emulator vs IR: {ex['vectors']} vectors, {ex['mismatches']} mismatches; wrote {args.out}"
    )
    return 0 if ex["mismatches"] == 0 else 1
