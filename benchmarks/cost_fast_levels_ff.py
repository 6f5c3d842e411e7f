"""Adder levels, latency and flip-flops of the fast FPGA estimate against the exact model (issue 11).

The exact model (``hwq.cost.rtl_plan.plan_rtl``) builds the datapath the Verilog emitter writes: its
levels are the emitter's, its flip-flops a bit-level liveness count equal to yosys on the calibration
set. The fast one (``hwq.cost.fast_plan.plan_fast``) runs no CSE. Three sets:

- ``set``: the 112 calibration designs (``calibrate.design_set``), each at pipeline 1, 2 and 3 (the FF
  constants ``fast.K_FF`` are fitted on these: ``fast_ff_fit.fit_fast_ff``);
- ``dag``: the ten layer-DAG designs of ``tests/cost/test_dag_exact.py`` at their own pipeline (and
  pipeline 1 and 2 for levels);
- ``net``: the trained / PTQ'd networks in ``tests/cost/data`` at pipeline 1 (and 2 for levels).

Printed: per set, layer modules whose fast levels equal the exact ones, whole designs whose latency
(cycles) is equal, and the whole-design FF error (median / p90 / max of |fast / exact - 1|, percent), with
one line per DAG design and network.

Usage: ``python benchmarks/cost_fast_levels_ff.py [--json OUT] [--refit]`` (``--refit`` also prints
``fit_fast_ff``'s constants on the design set, about 10 s).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NETS = (
    "flow_mlp_chosen",
    "ptq_cnn_w4a4",
    "ptq_mlp_w5a5",
    "whole_cnn_e2m1",
    "whole_cnn_fixed4",
    "whole_mlp_e4m3",
    "mutation_mul_bn",
)


def _sets() -> dict:
    """{set name: [(name, IR graph, FF pipeline, level pipelines)]}."""
    from hwq.cost.calibrate import design_set
    from hwq.ir.serialize import loads
    from tests.cost.test_dag_exact import designs

    data = ROOT / "tests" / "cost" / "data"
    out = {"set": [(f"{d['group']} {d['format']}", d["graph"], d["pipeline"], (1, 2, 3)) for d in design_set()]}
    out["dag"] = [(n, b(), p, tuple(sorted({p, 1, 2}))) for n, (b, p) in sorted(designs().items())]
    out["net"] = [(n, loads((data / f"{n}.json").read_text()), 1, (1, 2)) for n in NETS]
    return out


def _stats(errs: list[float]) -> dict:
    a = np.abs(np.asarray(errs, dtype=float))
    return {
        "median": round(float(np.median(a)), 1),
        "p90": round(float(np.percentile(a, 90)), 1),
        "max": round(float(a.max()), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--refit", action="store_true", help="print fit_fast_ff's constants on the design set")
    args = ap.parse_args(argv)
    from hwq.cost import fpga
    from hwq.cost.fast_plan import plan_fast
    from hwq.cost.rtl_plan import plan_rtl

    report = {}
    for name, items in _sets().items():
        lev_eq = lev_all = lat_eq = lat_all = 0
        ff_err, rows = [], []
        for tag, g, p_ff, p_lev in items:
            for p in p_lev:
                ex, fa = plan_rtl(g, pipeline=p), plan_fast(g, pipeline=p)
                lev_eq += sum(e.levels == f.levels for e, f in zip(ex, fa))
                lev_all += len(ex)
            e = fpga(g, "xc7", pipeline=p_ff)["total"]
            f = fpga(g, "xc7", pipeline=p_ff, exact=False)["total"]
            lat_eq += e["latency"] == f["latency"]
            lat_all += 1
            err = 100 * (f["FF"] / e["FF"] - 1)
            ff_err.append(err)
            rows.append(
                {"design": tag, "pipeline": p_ff, "ff_exact": e["FF"], "ff_fast": f["FF"], "ff_error": round(err, 1)}
            )
            if name != "set":
                print(f"  {tag:24s} p{p_ff}  FF exact {e['FF']:>7,}  fast {f['FF']:>7,}  {err:+7.1f} %")
        report[name] = {
            "levels_equal": f"{lev_eq}/{lev_all}",
            "latency_equal": f"{lat_eq}/{lat_all}",
            "ff_error": _stats(ff_err),
            "designs": rows if name != "set" else [],
        }
        print(
            f"{name}: levels equal {lev_eq}/{lev_all}, latency equal {lat_eq}/{lat_all},"
            f" FF |error| {report[name]['ff_error']}"
        )
    if args.refit:
        from hwq.cost.calibrate import design_set
        from hwq.cost.fast_ff_fit import fit_fast_ff

        report["fit_fast_ff"] = fit_fast_ff([d["graph"] for d in design_set()])
        print("fit_fast_ff:", report["fit_fast_ff"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
