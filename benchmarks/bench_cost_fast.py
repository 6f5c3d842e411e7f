"""Accuracy of the fast FPGA estimate (``fpga(..., exact=False)``, no CSE run) against the exact model.

The exact model (``exact=True``) builds the datapath the Verilog emitter writes and counts its features;
the fast one reads digit counts, value ranges and geometry (``hwq.cost.fast``). Two sets:

- the calibration design set (``calibrate.design_set``: 112 single-layer designs, every format family):
  whole-design LUT error;
- trained / PTQ'd graphs (``graph.json`` files given on the command line, default the fixtures in
  ``tests/cost/data``), each tagged ``fit`` when ``fast.fit_fast``'s constants saw it (``--fit`` paths)
  and ``held`` otherwise: whole-graph and per-layer LUT error (layers under ``--min-lut`` exact LUTs
  are left out of the per-layer figures: a few LUTs off there is a large percentage of nothing).

Figures: median and 90th percentile of |fast / exact - 1| in percent; and the fast estimate's CPU time.
Target xc7 (the calibrated 6-LUT target), the emitter's default options (pipeline 1, streamed io).

Usage: ``python benchmarks/bench_cost_fast.py [GRAPH.json ...] [--fit F.json ...] [--json OUT]
[--no-designs]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from hwq.cost import fpga
from hwq.ir.serialize import loads

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "cost" / "data"


def _pct(errs: list[float]) -> dict:
    a = np.abs(np.asarray(errs, dtype=float))
    if not a.size:
        return {"n": 0}
    return {
        "n": int(a.size),
        "median_pct": round(float(np.median(a)), 2),
        "p90_pct": round(float(np.percentile(a, 90)), 2),
    }


def _source_state() -> dict:
    """The commit measured and the cost-model files that differ from it (uncommitted edits change the
    exact model's figures, so a result names them)."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "hwq/cost", "hwq/rtl", "rtl").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted": dirty}


def design_errors() -> list[float]:
    """Whole-design LUT error (percent, signed) of the fast estimate on the calibration design set."""
    from hwq.cost.calibrate import design_set

    out = []
    for d in design_set():
        e = fpga(d["graph"], "xc7", pipeline=d["pipeline"])["total"]["LUT"]
        f = fpga(d["graph"], "xc7", pipeline=d["pipeline"], exact=False)["total"]["LUT"]
        out.append((f / e - 1) * 100)
    return out


def graph_rows(path: Path, tag: str, label: str) -> list[dict]:
    """Per-layer and TOTAL rows (exact and fast LUT, fast CPU seconds) of one graph file."""
    g = loads(path.read_text())
    ex = fpga(g, "xc7")
    t0 = time.process_time()
    fa = fpga(g, "xc7", exact=False)
    cpu = time.process_time() - t0
    rows = [
        {"set": tag, "graph": label, "layer": le["name"], "style": le["style"], "exact": le["LUT"], "fast": lf["LUT"]}
        for le, lf in zip(ex["layers"], fa["layers"])
    ]
    rows.append(
        {
            "set": tag,
            "graph": label,
            "layer": "TOTAL",
            "exact": ex["total"]["LUT"],
            "fast": fa["total"]["LUT"],
            "fast_cpu_s": cpu,
        }
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graphs", nargs="*", help="graph.json files (default: tests/cost/data/*.json but ff_yosys.json)")
    ap.add_argument("--fit", nargs="*", default=[], help="graph.json files fast.fit_fast was fitted on (tag 'fit')")
    ap.add_argument("--min-lut", type=int, default=50, help="per-layer figures: layers with at least this many LUTs")
    ap.add_argument("--no-designs", action="store_true", help="skip the calibration design set")
    ap.add_argument("--json", help="write the figures and rows as JSON here")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.graphs] or sorted(p for p in DATA.glob("*.json") if p.name != "ff_yosys.json")
    fit_hash = {hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in args.fit}
    rows: list[dict] = []
    seen: set[str] = set()
    for p in [Path(x) for x in args.fit] + paths:
        h = hashlib.sha256(p.read_bytes()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        label = "/".join(p.parts[-4:])  # e.g. headroom/mlp-v1/chosen/graph.json (no machine path)
        try:
            rows += graph_rows(p, "fit" if h in fit_hash else "held", label)
        except ValueError as e:  # a graph the Verilog emitter refuses (e.g. a CMSIS input offset)
            print(f"skip {label}: {str(e)[:90]}", file=sys.stderr)
    result: dict = {"target": "xc7", "source": _source_state(), "sets": {}}
    for tag in ("fit", "held"):
        tot = [r for r in rows if r["set"] == tag and r["layer"] == "TOTAL"]
        lay = [r for r in rows if r["set"] == tag and r["layer"] != "TOTAL" and r["exact"] >= args.min_lut]
        result["sets"][tag] = {
            "graphs": _pct([(r["fast"] / r["exact"] - 1) * 100 for r in tot]),
            "layers": _pct([(r["fast"] / r["exact"] - 1) * 100 for r in lay]),
        }
        for r in tot:
            err = (r["fast"] / r["exact"] - 1) * 100
            print(f"{tag:5s} {r['graph']:44s} exact {r['exact']:7d}  fast {r['fast']:7d}  {err:+6.1f} %")
    if not args.no_designs:
        result["sets"]["design set"] = _pct(design_errors())
    result["rows"] = rows
    for tag, v in result["sets"].items():
        print(tag, json.dumps({k: v[k] for k in v}))
    if args.json:
        from hwq.io import atomic_write

        atomic_write(Path(args.json), json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
