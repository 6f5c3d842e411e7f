"""Check an explored FPGA point against yosys (not a test; prints a table).

Emits the point's Verilog (``hwq.rtl.emit``, default options), synthesises it with the target's yosys
script (``hwq/cost/targets/xc7.toml``: ``synth_xilinx -flatten -nosrl -noiopad -noclkbuf``) and prints
the cells beside the explorer's estimate (``hwq.cost.fpga(exact=False)``) and the calibrated exact model
(``hwq.cost.fpga``), with their errors.

    python benchmarks/bench_explore_verify.py runs/headroom/mlp/chosen/graph.json [--target xc7]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("graph", help="graph.json of the point (e.g. DIR/chosen/graph.json of hwq explore)")
    ap.add_argument("--target", default="xc7")
    a = ap.parse_args()

    import hwq.cost as hc
    from hwq.cost.targets import load_target
    from hwq.ir.serialize import loads
    from hwq.rtl import emit
    from hwq.rtl.tools import synth_report

    graph = loads(Path(a.graph).read_text())
    tgt = load_target(a.target)
    t0 = time.perf_counter()
    fast = hc.fpga(graph, a.target, exact=False)["total"]
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = hc.fpga(graph, a.target)
    t_exact = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="hwq-verify-") as d:
        emit(graph, d, tb_vectors=0)
        t0 = time.perf_counter()
        rep = synth_report(d, script=tgt["synth"]["script"])
        t_syn = time.perf_counter() - t0
    meas = {k: rep[k] for k in ("LUT", "FF", "CARRY", "DSP")}
    print(f"target {a.target} (calibrated: {exact['calibrated']}), yosys: {tgt['synth']['script']} ({t_syn:.0f} s)")
    print("| cells | yosys | explore estimate (fast) | error | calibrated exact model | error |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in ("LUT", "FF", "CARRY", "DSP"):
        m, f, e = meas[k], fast.get(k, 0), exact["total"].get(k, 0)
        ef = f"{100 * (f - m) / m:+.1f} %" if m else "-"
        ee = f"{100 * (e - m) / m:+.1f} %" if m else "-"
        print(f"| {k} | {m:,} | {f:,} | {ef} | {e:,} | {ee} |")
    print(f"estimate times: fast {t_fast * 1e3:.0f} ms, exact {t_exact:.1f} s")
    out = Path(a.graph).with_name("yosys.json")
    out.write_text(
        json.dumps({"yosys": meas, "fast": fast, "exact": exact["total"], "synth_seconds": t_syn}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
