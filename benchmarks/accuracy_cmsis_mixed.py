"""Accuracy of per-layer int8/int4 weights in the CMSIS-NN profile on the digits MLP 64-64-32-10.

For each seed the float model is trained once (the defaults of ``hwq.train``: 40 epochs, seed = the seed);
each weight assignment (uniform int8, uniform int4, and mixed ones) is then built with
``hwq.train.profiles.cmsis_config`` and quantised from that same float model, PTQ (MSE calibration) and QAT
(calibration, then 30 epochs). Accuracies are those of the exact integer model (equal to ``hwq.ir.run`` of
the lowered graph); "weight bytes" is the packed weight storage (int4 two per byte, as the ``_s4`` kernels
read it; biases and multipliers not counted). Run from the repository root:

    python benchmarks/accuracy_cmsis_mixed.py [--seeds 0] [--json out.json]

Prints a markdown table (percent correct on the 360-image test split).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from hwq.nn.cmsis import mac_layer_names
from hwq.train import resolve_config
from hwq.train.loop import accuracy, quantize_from_float, train_float
from hwq.train.profiles import cmsis_config

BASE = {"model": {"arch": "mlp", "hidden": [64, 32]}, "ptq": {"calibrator": "mse"}}
CASES = [
    ("uniform int8", {}),
    ("fc1 int4", {"fc1": "int4"}),
    ("fc2 int4", {"fc2": "int4"}),
    ("fc3 int4", {"fc3": "int4"}),
    ("fc1+fc2 int4", {"fc1": "int4", "fc2": "int4"}),
    ("fc2+fc3 int4", {"fc2": "int4", "fc3": "int4"}),
    ("uniform int4", {"fc1": "int4", "fc2": "int4", "fc3": "int4"}),
]


def weight_bytes(qm) -> int:
    """Packed weight storage in bytes: int8 one per byte, int4 two per byte (per layer, rounded up)."""
    total = 0
    for m in qm.modules():
        if hasattr(m, "wq") and hasattr(m, "weights"):
            n = m.weight.numel()
            total += (n + 1) // 2 if m.weights == "int4" else n
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--json", help="also write the raw accuracies to this file")
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    res: dict = {"float": [], "cases": {}}
    for seed in a.seeds:
        base = {**BASE, "train": {"seed": seed}}
        fm, data, acc_f = train_float(resolve_config(cmsis_config({}, base)))
        res["float"].append(acc_f)
        for label, layers in CASES:
            for mode in ("ptq", "qat"):
                cfg = resolve_config(cmsis_config(layers, base, mode=mode))
                qm = quantize_from_float(cfg, fm, data)
                acc = accuracy(qm.eval(), data.x_test, data.y_test)
                row = res["cases"].setdefault(label, {"layers": layers, "ptq": [], "qat": []})
                row[mode].append(acc)
                row["weight_bytes"] = weight_bytes(qm)
                row["layer_names"] = mac_layer_names(qm)
                print(f"  seed {seed} {label} {mode}: {acc:.2f}", file=sys.stderr, flush=True)
    print(f"float: {np.mean(res['float']):.2f} % (seeds {' '.join(map(str, a.seeds))})\n")
    print("| weights (fc1/fc2/fc3) | weight bytes | PTQ (MSE) % | QAT % |")
    print("|---|---:|---:|---:|")
    for label, row in res["cases"].items():
        w = "/".join(row["layers"].get(n, "int8")[3:] for n in row["layer_names"])
        print(f"| {label} ({w}) | {row['weight_bytes']} | {np.mean(row['ptq']):.2f} | {np.mean(row['qat']):.2f} |")
    print(f"\n({time.time() - t0:.0f} s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
