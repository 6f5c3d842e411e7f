"""Beyond uniform 4-bit: does the explorer's front beat uniform 4-bit by a point at equal cost? (not a
test; prints a table).

For each model it runs ``hwq explore`` (default settings, seed 0) and reads ``pareto.json``: the float
model's test accuracy, the uniform 4-bit baseline refined by the same short QAT (FPGA: ``fixed4``, 4-bit
weights and activations, 8-bit results; MCU: ``int4``, CMSIS-NN int4 weights, int8 activations), and the
best other refined front point at or below the baseline's cost, per objective cost. The headroom is the float
accuracy minus the uniform 4-bit accuracy: when it is below one point, no configuration can gain a point
over 4-bit without beating the float model itself.

Models: the digits MLP (64-32, xc7) and the digits CNN (8-16 channels, Cortex-M4) of the issue, and
narrower versions (MLP 16 on xc7 and on the Cortex-M4, CNN 2-4 channels) to look for headroom.

    python benchmarks/bench_explore_headroom.py [--out runs/headroom] [--only NAME ...] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

#: name -> (run config, target, baseline name, space)
MODELS = {
    "mlp": ({}, "xc7", "fixed4", None),
    "mlp-16": ({"name": "digits-mlp-16", "model": {"arch": "mlp", "hidden": [16]}}, "xc7", "fixed4", None),
    "cnn": (
        {"name": "digits-cnn", "model": {"arch": "cnn", "channels": [8, 16]}, "ptq": {"calibrator": "mse"}},
        "cortex-m4",
        "int4",
        None,
    ),
    "mlp-16-m4": (
        {"name": "digits-mlp-16-m4", "model": {"arch": "mlp", "hidden": [16]}, "ptq": {"calibrator": "mse"}},
        "cortex-m4",
        "int4",
        None,
    ),
    "cnn-2-4": (
        {"name": "digits-cnn-2-4", "model": {"arch": "cnn", "channels": [2, 4]}, "ptq": {"calibrator": "mse"}},
        "cortex-m4",
        "int4",
        None,
    ),
}


def summarise(doc: dict, baseline: str) -> dict:
    """Float, uniform 4-bit and best-front test accuracies (percent) and the gain at equal or lower cost,
    per objective cost, from a ``pareto.json`` document."""
    pts = {p["id"]: p for p in doc["points"]}
    b = pts[doc["baselines"][baseline]]["refined"]
    base_cfg = pts[doc["baselines"][baseline]]["config"]
    front = [pts[i] for i in doc["front"]]
    out = {
        "float": doc["float_accuracy"],
        "uniform4": b["test_accuracy"],
        "headroom": round(doc["float_accuracy"] - b["test_accuracy"], 2),
        "baseline_costs": {c: b["costs"][c] for c in doc["objectives"][1:]},
        "by_cost": {},
    }
    for c in doc["objectives"][1:]:
        cands = [p for p in front if p["refined"]["costs"][c] <= b["costs"][c] and p["config"] != base_cfg]
        top = max(cands, key=lambda p: (p["refined"]["test_accuracy"], -p["refined"]["costs"][c]), default=None)
        out["by_cost"][c] = (
            None
            if top is None
            else {
                "accuracy": top["refined"]["test_accuracy"],
                "cost": top["refined"]["costs"][c],
                "gain": round(top["refined"]["test_accuracy"] - b["test_accuracy"], 2),
                "formats": " ".join(f"{x['weight']}/{x['act'] or '-'}/{x['acc']}" for x in top["config"]),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/headroom")
    ap.add_argument("--only", nargs="*", default=list(MODELS))
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    from hwq.explore import explore

    rows = []
    for name in a.only:
        cfg, target, base, space = MODELS[name]
        out = Path(a.out) / name
        t0 = time.perf_counter()
        if (out / "pareto.json").exists():
            doc = json.loads((out / "pareto.json").read_text())
        else:
            doc = explore(
                cfg, out, target=target, space=space, seed=0, workers=a.workers, progress="lines", log=lambda *x: None
            )
        rows.append((name, target, base, summarise(doc, base), time.perf_counter() - t0))
    print("| model | target | float % | uniform 4-bit % (QAT) | headroom | cost | best front at <= cost | gain |")
    print("|---|---|---:|---:|---:|---|---|---:|")
    for name, target, base, s, _ in rows:
        for c, top in s["by_cost"].items():
            best = "none" if top is None else f"{top['accuracy']:.2f} % at {top['cost']:,.0f} ({top['formats']})"
            gain = "" if top is None else f"{top['gain']:+.2f}"
            print(
                f"| {name} | {target} | {s['float']:.2f} | {s['uniform4']:.2f} ({base}, {c} "
                f"{s['baseline_costs'][c]:,.0f}) | {s['headroom']:.2f} | {c} | {best} | {gain} |"
            )
    Path(a.out).mkdir(parents=True, exist_ok=True)
    Path(a.out, "headroom.json").write_text(
        json.dumps({n: {"summary": s, "seconds": t} for n, _, _, s, t in rows}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
