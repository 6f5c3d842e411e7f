"""The xc7 cost model on the whole networks whose yosys counts are recorded in ``tests/cost/data``.

Each ``*_yosys.json`` there holds the whole-design LUT / FF / CARRY count of a trained graph (the digits MLP
with e4m3 weights, the digits CNN with fixed<4> and e2m1 weights), synthesised with the xc7 script by the
command it names. This script prices each graph with ``hwq.cost.fpga(graph, "xc7")`` (the packaged model) and
prints the estimate beside the recorded count. Nothing is synthesised.

Usage: ``python benchmarks/cost_recorded_networks.py [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hwq.cost import fpga
from hwq.ir.serialize import loads

DATA = Path(__file__).resolve().parent.parent / "tests" / "cost" / "data"
RECORDS = ("whole_mlp_e4m3_yosys.json", "whole_cnn_fixed4_yosys.json", "whole_cnn_e2m1_yosys.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args(argv)
    rows = []
    print("| graph | figure | estimate | yosys | error |\n| --- | --- | ---: | ---: | ---: |")
    for name in RECORDS:
        rec = json.loads((DATA / name).read_text())
        est = fpga(loads((DATA / rec["graph"]).read_text()), "xc7")["total"]
        for k in ("LUT", "FF", "CARRY"):
            m = rec["counts"]["all"][k]
            err = round(100 * (est[k] / m - 1), 1)
            rows.append({"graph": rec["graph"], "figure": k, "estimate": est[k], "yosys": m, "error_pct": err})
            print(f"| {rec['graph']} | {k} | {est[k]:,} | {m:,} | {err:+.1f} % |")
    if args.json:
        from hwq.io import atomic_write

        atomic_write(args.json, json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
