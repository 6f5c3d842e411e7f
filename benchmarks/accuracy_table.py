"""Accuracy table of the README ("Training and accuracy"): digits test split, mean of 3 seeds.

For each model (MLP 64-64-32-10, small CNN) and seed, the float reference model is trained once
(its config's [train] settings) and each example config then quantises that same float model
(QAT fine-tuning or PTQ). Run from the repository root:

    python benchmarks/accuracy_table.py [--seeds 0 1 2] [--json out.json]

Prints a markdown table of mean accuracies (percent) and the differences to float.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hwq.train import load_config, resolve_config
from hwq.train.loop import accuracy, quantize_from_float, train_float

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    ("fixed8_qat", "fixed 8-bit QAT"),
    ("fixed4_learned", "fixed 4-bit QAT (learned binary point)"),
    ("fixed4_minmax", "fixed 4-bit QAT (min/max binary point)"),
    ("csd2_qat", "CSD k=2 QAT"),
    ("e4m3_ptq", "e4m3 PTQ"),
    ("e2m1w_qat", "e2m1 weights QAT"),
]
MODELS = [("mlp", "MLP 64-64-32-10"), ("cnn", "CNN 2x(conv3x3-BN-ReLU-pool)")]


def measure(arch: str, seeds: list[int], columns=None) -> dict[str, list[float]]:
    """Test accuracy per seed of the float model and of each column's config ``examples/<arch>_<key>.toml``
    (all quantised from the same float model, trained with the first column's settings)."""
    columns = columns or COLUMNS
    """Accuracies per column (and 'float') over the seeds."""
    res: dict[str, list[float]] = {"float": []}
    cfgs = {key: resolve_config(load_config(ROOT / "examples" / f"{arch}_{key}.toml")) for key, _ in columns}
    first = columns[0][0]
    for seed in seeds:
        base = dict(cfgs[first])
        base["train"] = {**base["train"], "seed": seed}
        fm, data, acc_f = train_float(base)
        res["float"].append(acc_f)
        for key, _ in columns:
            cfg = cfgs[key]
            cfg["train"] = {**cfg["train"], "seed": seed}
            if cfg["train"]["epochs"] != base["train"]["epochs"] or cfg["model"] != base["model"]:
                raise SystemExit(f"{arch}_{key}.toml: float training settings differ from {arch}_{first}.toml")
            qm = quantize_from_float(cfg, fm, data)
            res.setdefault(key, []).append(accuracy(qm, data.x_test, data.y_test))
            print(f"  {arch} seed {seed} {key}: {res[key][-1]:.2f}", file=sys.stderr, flush=True)
    return res


def main(columns=None, models=None, doc: str | None = None) -> int:
    """The command line: measure every model, print the markdown table (and --json)."""
    columns, models = columns or COLUMNS, models or MODELS
    ap = argparse.ArgumentParser(description=(doc or __doc__).splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", help="also write the raw accuracies to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    table = {arch: measure(arch, args.seeds, columns) for arch, _ in models}
    head = ["model", "float"] + [name for _, name in columns]
    print(f"Digits test split (360 images), mean of seeds {args.seeds}; in brackets: difference to float.\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for arch, label in models:
        r = table[arch]
        f = float(np.mean(r["float"]))
        cells = [label, f"{f:.2f}"]
        for key, _ in columns:
            m = float(np.mean(r[key]))
            cells.append(f"{m:.2f} ({m - f:+.2f})")
        print("| " + " | ".join(cells) + " |")
    print(f"\n{time.time() - t0:.0f} s, torch {torch.__version__}, 1 thread")
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "accuracy": table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
