"""One weight draw, the binary point moved: yosys LUTs against the FPGA cost model.

The same raw 3-bit weight integers (``calibrate.make_design(seed=901)``: ``dense 64->8`` on a ``ufixed<3,2>``
input, pipeline 1) read as ``fixed<3,0>`` .. ``fixed<3,4>`` give the same adder graph. Only the output stage
differs: the accumulator's binary point sits k = 1 .. 5 bits above the ``fixed<8,3>`` result's, so the
saturating cast selects between its limits and k bits that are constant 0. Any change in LUTs is that output
stage; ``benchmarks/lut_primitives.py`` (rows ``cast0`` .. ``cast6``) prices the stage alone. The designs are
synthesised with the target's script into the calibration cache (``calibrate.synthesise``; cached by the
emitted Verilog) and priced with the packaged coefficients.

Usage: ``python benchmarks/cost_binary_point.py [--target xc7 --target ice40] [--seed 901] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import sys

from hwq.cost import calibrate as cal
from hwq.cost.rtl_model import emitter_default_adders
from hwq.cost.targets import load_target

FORMATS = ("fixed<3,0>", "fixed<3,1>", "fixed<3,2>", "fixed<3,3>", "fixed<3,4>")


def run_target(name: str, seed: int) -> list[dict]:
    """One row per format: yosys LUT / FF, the model's LUT, error %."""
    target, adders = load_target(name), emitter_default_adders()
    designs = [
        {"graph": cal.make_design("dense", (64,), 8, 0, f, seed=seed, x_fmt="ufixed<3,2>"), "pipeline": 1,
         "group": f"seed {seed}", "format": f, "input": "ufixed<3,2>", "fit": False}
        for f in FORMATS
    ]  # fmt: skip
    cal.featurise(designs, adders)
    designs = cal.synthesise(designs, target, 2, adders, False, log=lambda *a: None)
    cal.predict(designs, target["coefficients"], target)
    return [
        {"target": name, "format": d["format"], "yosys_lut": d["measured"]["LUT"], "yosys_ff": d["measured"]["FF"],
         "model_lut": round(d["pred_lut"], 1), "error_pct": round(100 * (d["pred_lut"] / d["measured"]["LUT"] - 1), 2)}
        for d in designs
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", help="FPGA target(s) (default: xc7 and ice40)")
    ap.add_argument("--seed", type=int, default=901)
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    rows = [r for t in args.target or ["xc7", "ice40"] for r in run_target(t, args.seed)]
    print("| target | weights | yosys LUT | yosys FF | model LUT | error |\n| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['target']} | {r['format']} | {r['yosys_lut']:,} | {r['yosys_ff']:,} | {r['model_lut']:,.0f} | "
              f"{r['error_pct']:+.1f} % |")  # fmt: skip
    if args.json:
        from hwq.io import atomic_write

        atomic_write(args.json, json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
