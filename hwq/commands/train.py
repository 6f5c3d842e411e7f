"""``hwq train [--config FILE] --out RUN``: train (float, then QAT or PTQ) on the built-in digits data.

Without --config: the digits MLP 64-64-32-10 with 4-bit fixed point, learned binary points. Writes
RUN/model.pt, RUN/graph.json (the IR) and RUN/summary.json. The config is checked completely before
training starts; errors name the key.
"""

from __future__ import annotations

import contextlib


def register(sub) -> None:
    """Add the ``train`` subcommand to the CLI's subparsers."""
    from hwq.cli import add_command

    p = add_command(
        sub,
        "train",
        help="train a quantised model on the built-in data; write checkpoint, IR, summary",
        description=__doc__,
        examples=[
            "hwq train --out runs/mlp4",
            "hwq train --config examples/cnn_fixed8_qat.toml --out runs/cnn8 --seed 1",
        ],
        out=True,
    )
    p.add_argument("--config", help="run config (.toml or .json); default: 4-bit learned-binary-point digits MLP")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    p.set_defaults(func=run)


def read_config(path: str | None) -> dict:
    """The config file at ``path`` as a dict ({} without a path); errors name the file."""
    from hwq.cli import UserError
    from hwq.train import load_config

    if not path:
        return {}
    try:
        cfg = load_config(path)
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not a config file (not UTF-8 text: {e.reason} at byte {e.start})") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a config file") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: expected a table/object at the top level, got {type(cfg).__name__}")
    return cfg


@contextlib.contextmanager
def config_errors(path: str | None):
    """Re-raise config errors (``ConfigError``/``SpecError``, naming the key) with the file name in front."""
    from hwq.cli import UserError
    from hwq.nn.spec import SpecError
    from hwq.train import ConfigError

    try:
        yield
    except (ConfigError, SpecError) as e:
        msg = str(e)
        if path and not msg.startswith(str(path)):
            raise UserError(f"{path}: {msg}") from None
        raise


def run(args) -> int:
    """Run ``hwq train``: 0 when the emulator equals the IR on the test split, else 1."""
    from hwq.train import train_from_config

    cfg = read_config(args.config)
    if args.seed is not None:
        cfg["train"] = {**(cfg.get("train") if isinstance(cfg.get("train"), dict) else {}), "seed": args.seed}
    with config_errors(args.config):
        s = train_from_config(cfg, args.out, progress=args.progress, force=args.force)
    a = s["accuracy"]
    ex = s["emulator_vs_ir"]
    print(
        f"train {s['name']}: accuracy float {a['float']:.2f}%, quantized {a['quantized']:.2f}% "
        f"({a['test_samples']} test samples); weights {s['bits']['weights']} bits; "
        f"emulator vs IR: {ex['vectors']} vectors, {ex['mismatches']} mismatches; wrote {args.out}"
    )
    return 0 if ex["mismatches"] == 0 else 1
