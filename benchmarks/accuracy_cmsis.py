"""Accuracy of the CMSIS-NN profile (README, "CMSIS-NN profile"): digits test split, mean of 3 seeds.

For each model (MLP 64-64-32-10, small CNN) and seed the float reference model is trained once and each
CMSIS-NN example config (``examples/<arch>_cmsis_*.toml``) quantises that same float model: int8 PTQ,
int8 QAT, int4-weight QAT, int16-activation PTQ. Accuracies are those of the exact integer model (the
emulator's integer path, equal to ``hwq.ir.run`` of the lowered graph). Run from the repository root:

    python benchmarks/accuracy_cmsis.py [--seeds 0 1 2] [--json out.json]

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
    ("cmsis_int8_ptq", "int8 PTQ (MSE)"),
    ("cmsis_int8_qat", "int8 QAT"),
    ("cmsis_int4w_qat", "int4 weights QAT"),
    ("cmsis_int16a_ptq", "int16 activations PTQ"),
]
MODELS = [("mlp", "MLP 64-64-32-10"), ("cnn", "CNN 2x(conv3x3-BN-ReLU-maxpool)")]


def measure(arch: str, seeds: list[int]) -> dict[str, list[float]]:
    """Accuracies per column (and 'float') over the seeds."""
    res: dict[str, list[float]] = {"float": []}
    cfgs = {key: resolve_config(load_config(ROOT / "examples" / f"{arch}_{key}.toml")) for key, _ in COLUMNS}
    for seed in seeds:
        base = dict(cfgs[COLUMNS[0][0]])
        base["train"] = {**base["train"], "seed": seed}
        fm, data, acc_f = train_float(base)
        res["float"].append(acc_f)
        for key, _ in COLUMNS:
            cfg = cfgs[key]
            cfg["train"] = {**cfg["train"], "seed": seed}
            if cfg["train"]["epochs"] != base["train"]["epochs"] or cfg["model"] != base["model"]:
                raise SystemExit(f"{arch}_{key}.toml: float training settings differ from the int8 PTQ config")
            qm = quantize_from_float(cfg, fm, data)
            res.setdefault(key, []).append(accuracy(qm, data.x_test, data.y_test))
            print(f"  {arch} seed {seed} {key}: {res[key][-1]:.2f}", file=sys.stderr, flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", help="also write the raw accuracies to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    table = {arch: measure(arch, args.seeds) for arch, _ in MODELS}
    head = ["model", "float"] + [name for _, name in COLUMNS]
    print(f"Digits test split (360 images), mean of seeds {args.seeds}; in brackets: difference to float.\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for arch, label in MODELS:
        r = table[arch]
        f = float(np.mean(r["float"]))
        cells = [label, f"{f:.2f}"]
        for key, _ in COLUMNS:
            m = float(np.mean(r[key]))
            cells.append(f"{m:.2f} ({m - f:+.2f})")
        print("| " + " | ".join(cells) + " |")
    print(f"\n{time.time() - t0:.0f} s, torch {torch.__version__}, 1 thread")
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "accuracy": table}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
