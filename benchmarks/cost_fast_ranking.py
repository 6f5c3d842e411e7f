"""The fast FPGA estimate (``exact=False``) on the calibration design set, with the packaged coefficients.

``hwq cost calibrate`` reports the exact model's held-out figures. This script prices the same 112 designs
with the fast digit-count estimate (``fast_plan.plan_fast``: no CSE run, what ``hwq explore`` searches with)
and the target file's coefficients, unchanged. It prints the held-out Spearman, the within-group minimum, the
groups below 0.95 and the median / p90 error against the cached yosys counts (``calibrate.accuracy``; the
12 fitted designs left out). Nothing is synthesised: run ``hwq cost calibrate --target T`` first.

Usage: ``python benchmarks/cost_fast_ranking.py [--target xc7 --target ice40]``.
"""

from __future__ import annotations

import argparse
import sys

from hwq.cost import calibrate as cal
from hwq.cost.fast_plan import plan_fast
from hwq.cost.rtl_model import emitter_default_adders
from hwq.cost.targets import load_target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", help="FPGA target(s) (default: xc7 and ice40)")
    args = ap.parse_args(argv)
    print("| target | held out | Spearman | within min | groups < 0.95 | median | p90 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.target or ["xc7", "ice40"]:
        target, adders = load_target(name), emitter_default_adders()
        designs = cal.design_set()
        cal.featurise(designs, adders)  # the exact features find the cached synthesis (keyed by the Verilog)
        designs = cal.synthesise(designs, target, None, adders, True, log=lambda *a: None)
        for d in designs:
            d["features"] = plan_fast(d["graph"], pipeline=d["pipeline"], adders=adders)
            d["vector"] = cal.design_vector(d["features"])
        cal.predict(designs, target["coefficients"], target)
        m = cal.accuracy(designs, "pred_lut")
        below = sum(g["spearman"] < 0.95 for g in m["groups"])
        print(f"| {name} | {m['designs']} | {m['spearman']} | {m['spearman_within_min']} | {below} of "
              f"{len(m['groups'])} | {m['median_ape']} % | {m['p90_ape']} % |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
