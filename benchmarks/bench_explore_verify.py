"""Check an explored FPGA point against yosys, and the explorer's fast LUT model against the exact one
(not a test; prints tables).

1. ``GRAPH``: emits the point's Verilog (``hwq.rtl.emit``, default options), synthesises it with the
   target's yosys script (``hwq/cost/targets/xc7.toml``: ``synth_xilinx -flatten -nosrl -noiopad
   -noclkbuf``) and prints the cells beside the explorer's search estimate (``hwq.cost.fpga(exact=False)``)
   and the calibrated exact model (``hwq.cost.fpga``), with their errors; writes ``yosys.json`` beside the
   graph (with the emitted Verilog's hash: a later run on the same Verilog reuses that synthesis).
   ``--layers`` also synthesises every Dense/Conv layer on its own (the layer with its ReLU, input
   format as in the network; what the cost model's calibration designs are), one yosys run at a time, to
   separate per-layer pricing error from whole-network effects (cross-layer optimisation after
   ``-flatten``, glue between layers).
2. ``--rank RUN``: the fast model against the exact one on every QAT-refined graph an ``hwq explore`` run
   cached (``RUN/cache/*.json`` with a ``graph``: the front's neighbourhood the final front is taken on):
   Spearman rank correlation of their LUTs, median and largest relative difference, and whether both
   give the same non-dominated set of (test accuracy, LUTs).

    python benchmarks/bench_explore_verify.py runs/headroom/mlp/chosen/graph.json [--target xc7] [--layers [--reuse]]
    python benchmarks/bench_explore_verify.py --rank runs/headroom/mlp [--target xc7]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path


def _verilog_sha(folder: str) -> str:
    h = hashlib.sha256()
    for f in sorted(Path(folder).glob("*.v")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _synth(graph, script: str, known: dict | None = None) -> tuple[dict, float, str]:
    """(cells, yosys wall seconds, Verilog hash); ``known`` (an earlier yosys.json) is reused when its
    Verilog hash and script match (0 seconds)."""
    from hwq.rtl import emit
    from hwq.rtl.tools import synth_report

    with tempfile.TemporaryDirectory(prefix="hwq-verify-") as d:
        emit(graph, d, tb_vectors=0)
        sha = _verilog_sha(d)
        if known and known.get("verilog_sha") in (sha, "reuse") and known.get("script", script) == script:
            return known["yosys"], 0.0, sha
        t0 = time.perf_counter()
        rep = synth_report(d, script=script)
        return {k: rep[k] for k in ("LUT", "FF", "CARRY", "DSP")}, time.perf_counter() - t0, sha


def _err(est: float, meas: float) -> str:
    return f"{100 * (est - meas) / meas:+.1f} %" if meas else "-"


def layer_graphs(graph) -> list:
    """One graph per Dense/Conv op of ``graph``: the op and a directly following ReLU, its input tensor
    with the format it has in the network (a graph input), outputs as in the network."""
    from hwq.ir import Graph

    out = []
    ops = list(graph.ops)
    for i, op in enumerate(ops):
        if getattr(op, "weight", None) is None:
            continue
        keep = [op]
        if i + 1 < len(ops) and ops[i + 1].kind == "relu" and ops[i + 1].inputs == [op.output]:
            keep.append(ops[i + 1])
        x = graph.tensor(op.inputs[0])
        g = Graph(f"{graph.name}_{op.name}", [x.name], [])
        g.add_tensor(x.name, x.shape, x.fmt)
        for o in keep:
            t = graph.tensor(o.output)
            g.add_tensor(t.name, t.shape, t.fmt)
            g.add_op(o)
        g.outputs = [keep[-1].output]
        g.validate()
        out.append(g)
    return out


def verify_point(path: str, target: str, layers: bool, reuse: bool = False) -> None:
    import hwq.cost as hc
    from hwq.cost.targets import load_target
    from hwq.ir.serialize import loads

    graph = loads(Path(path).read_text())
    tgt = load_target(target)
    script = tgt["synth"]["script"]
    t0 = time.process_time()
    fast = hc.fpga(graph, target, exact=False)
    t_fast = time.process_time() - t0
    t0 = time.process_time()
    exact = hc.fpga(graph, target)
    t_exact = time.process_time() - t0
    out = Path(path).with_name("yosys.json")
    known = json.loads(out.read_text()) if out.exists() else None
    if known and reuse:
        known["verilog_sha"] = "reuse"
    meas, t_syn, sha = _synth(graph, script, known)
    if t_syn == 0.0:
        t_syn = known["synth_seconds"]
        print(f"(whole network: the earlier yosys result in {out}, {'--reuse' if reuse else 'same Verilog'})")
    print(f"target {target} (calibrated: {exact['calibrated']}), yosys: {script} ({t_syn:.0f} s wall)")
    print("| cells | yosys | explore search estimate (fast) | error | calibrated exact model | error |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in ("LUT", "FF", "CARRY", "DSP"):
        m, f, e = meas[k], fast["total"].get(k, 0), exact["total"].get(k, 0)
        print(f"| {k} | {m:,} | {f:,} | {_err(f, m)} | {e:,} | {_err(e, m)} |")
    print(f"estimate CPU times: fast {t_fast * 1e3:.0f} ms, exact {t_exact:.1f} s")
    doc = {
        "yosys": meas,
        "fast": fast["total"],
        "exact": exact["total"],
        "synth_seconds": t_syn,
        "script": script,
        "verilog_sha": sha,
    }
    if layers:
        rows = []
        fl = {r["name"]: r for r in fast["layers"]}
        el = {r["name"]: r for r in exact["layers"]}
        for g in layer_graphs(graph):
            name = next(o.name for o in g.ops if getattr(o, "weight", None) is not None)
            alone = hc.fpga(g, target)["total"]
            m, t, _ = _synth(g, script)
            rows.append(
                {
                    "layer": name,
                    "yosys": m,
                    "exact_alone": alone,
                    "exact_in_network": el[name]["LUT"],
                    "fast_in_network": fl[name]["LUT"],
                    "synth_seconds": t,
                }
            )
            print(f"layer {name}: yosys {m['LUT']:,} LUT ({t:.0f} s); exact model alone {alone['LUT']:,}", flush=True)
        print("\n| layer alone | yosys LUT | exact model | error | yosys FF | exact FF | error |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            m, e = r["yosys"], r["exact_alone"]
            print(
                f"| {r['layer']} | {m['LUT']:,} | {e['LUT']:,} | {_err(e['LUT'], m['LUT'])} | {m['FF']:,} "
                f"| {e['FF']:,} | {_err(e['FF'], m['FF'])} |"
            )
        s_y = sum(r["yosys"]["LUT"] for r in rows)
        print(f"sum of the layers alone: yosys {s_y:,} LUT; whole network {meas['LUT']:,} ({_err(meas['LUT'], s_y)})")
        doc["layers"] = rows
    out.write_text(json.dumps(doc, indent=1) + "\n")


def rank(run: str, target: str) -> None:
    import numpy as np

    import hwq.cost as hc
    from hwq.explore.pareto import nondominated
    from hwq.explore.sensitivity import spearman
    from hwq.ir.serialize import loads

    rows = []
    t_fast = t_exact = 0.0
    for f in sorted(Path(run, "cache").glob("*.json")):
        rec = json.loads(f.read_text())
        if not isinstance(rec, dict) or "graph" not in rec:
            continue
        g = loads(rec["graph"])
        t0 = time.process_time()
        fa = hc.fpga(g, target, exact=False)["total"]["LUT"]
        t1 = time.process_time()
        ex = hc.fpga(g, target)["total"]["LUT"]
        t_exact += time.process_time() - t1
        t_fast += t1 - t0
        rows.append((rec["test_accuracy"], fa, ex, rec["config"]))
    if len(rows) < 2:
        raise SystemExit(f"{run}/cache: fewer than two refined graphs")
    acc = [r[0] for r in rows]
    fast = np.array([r[1] for r in rows], dtype=float)
    exact = np.array([r[2] for r in rows], dtype=float)
    rel = 100 * (fast - exact) / exact
    nd_f = nondominated([(-a, c) for a, c in zip(acc, fast)])
    nd_e = nondominated([(-a, c) for a, c in zip(acc, exact)])
    print(f"{len(rows)} refined graphs of {run}, target {target}")
    print(
        f"Spearman(fast, exact) LUT {spearman(list(fast), list(exact)):.3f}; "
        f"fast - exact: median {np.median(rel):+.1f} %, "
        f"min {rel.min():+.1f} %, max {rel.max():+.1f} % (|.| median {np.median(np.abs(rel)):.1f} %)"
    )
    print(
        f"non-dominated (test accuracy, LUT): fast {sum(nd_f)} points, exact {sum(nd_e)}, same set: {nd_f == nd_e}; "
        f"CPU: fast {1e3 * t_fast / len(rows):.0f} ms, exact {t_exact / len(rows):.2f} s per graph"
    )
    Path(run, "rank.json").write_text(
        json.dumps(
            {
                "graphs": len(rows),
                "spearman": spearman(list(fast), list(exact)),
                "rel_diff_percent": {"median": float(np.median(rel)), "min": float(rel.min()), "max": float(rel.max())},
                "same_front": nd_f == nd_e,
                "points": [{"test_accuracy": a, "fast": int(f), "exact": int(e), "config": c} for a, f, e, c in rows],
            },
            indent=1,
        )
        + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("graph", nargs="?", help="graph.json of the point (e.g. DIR/chosen/graph.json of hwq explore)")
    ap.add_argument("--target", default="xc7")
    ap.add_argument("--layers", action="store_true", help="also synthesise every layer on its own")
    ap.add_argument(
        "--reuse", action="store_true", help="reuse yosys.json's whole-network cells even without a Verilog hash"
    )
    ap.add_argument("--rank", metavar="RUN", help="fast vs exact model on the refined graphs of an explore run")
    a = ap.parse_args()
    if a.rank:
        rank(a.rank, a.target)
    if a.graph:
        verify_point(a.graph, a.target, a.layers, a.reuse)
    if not (a.rank or a.graph):
        ap.error("give a graph.json and/or --rank RUN")


if __name__ == "__main__":
    main()
