"""Does a design's yosys LUT count depend on unrelated Verilog read before it? (issue 11)

yosys numbers the cells and wires it creates with one process-wide counter (``autoidx``), and abc's
mapping depends on the order of the nets it is given. Reading other modules first, even modules that
``hierarchy -top`` then deletes, shifts those numbers, so the same design can map to a different number of
LUTs. This script emits calibration designs (``calibrate.design_set``), synthesises each one flattened with
the target's script several times, each run preceded by a different unrelated module (the layer
datapaths of other calibration designs, never instantiated), and reports the LUT count of every run, the
spread (max - min) / min per design, and whether FF and CARRY counts stay equal.

Usage: ``python benchmarks/synth_context.py --target xc7 --group "conv2d 4x5x5->2 p2" [--group ...]
[--preambles 3] [--jobs 2] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hwq.cost import calibrate as cal


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def _synth(job: tuple) -> dict:
    """One yosys run: ``pre`` files read first (not instantiated), then the design; LUT/FF/CARRY counts by
    the target's cell patterns."""
    folder, pre, script, synth = job
    from hwq.rtl.tools import parse_stat, sources

    top, files = sources(folder)
    reads = " ".join([*pre, *(str(f) for f in files)])
    text = f"read_verilog -sv {reads}; hierarchy -check -top {top}; {script} -top {top}; tee -o /dev/stdout stat"
    p = subprocess.run([shutil.which("yosys"), "-q", "-p", text], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"yosys failed on {top}: {(p.stderr or p.stdout)[-1500:]}")
    return cal.count_cells(parse_stat(p.stdout), synth)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="xc7")
    ap.add_argument("--group", action="append", required=True, help="a design-set group, e.g. 'dense 16->6 p0'")
    ap.add_argument("--preambles", type=int, default=3, help="runs with an unrelated module read first")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from hwq.rtl import emit

    tgt = cal.load_target(args.target)
    script = tgt["synth"]["script"]
    designs = [d for d in cal.design_set() if d["group"] in args.group]
    if not designs:
        ap.error(f"no design-set group named {args.group}")
    with tempfile.TemporaryDirectory(prefix="hwq-context-") as root:
        folders = []
        for d in designs:
            f = Path(root) / _slug(f"{d['group']} {d['format']}")
            emit(d["graph"], f, pipeline=d["pipeline"], tb_vectors=0)
            folders.append(f)
        # preambles: other designs' layer datapath modules (distinct module names, never instantiated)
        others = [d for d in cal.design_set() if d["group"] not in args.group][:: max(1, 100 // args.preambles)]
        pre_files = []
        for k, d in enumerate(others[: args.preambles]):
            f = Path(root) / f"pre{k}"
            emit(d["graph"], f, pipeline=d["pipeline"], tb_vectors=0)
            pre_files.append([str(p) for p in sorted(f.glob("*_datapath.v"))])
        variants = [[], *pre_files]
        jobs = [(str(f), pre, script, tgt["synth"]) for f in folders for pre in variants]
        with ProcessPoolExecutor(args.jobs) as ex:
            runs = list(ex.map(_synth, jobs))
    rows = []
    for i, d in enumerate(designs):
        r = runs[i * len(variants) : (i + 1) * len(variants)]
        luts = [x["LUT"] for x in r]
        rows.append(
            {
                "group": d["group"],
                "format": d["format"],
                "lut": luts,
                "spread_pct": round(100 * (max(luts) - min(luts)) / min(luts), 2),
                "ff_equal": len({x["FF"] for x in r}) == 1,
                "carry_equal": len({x["CARRY"] for x in r}) == 1,
            }
        )
        print(f"{d['group']:24s} {d['format']:12s} LUT {luts}  spread {rows[-1]['spread_pct']:.2f} %", flush=True)
    report = {"target": args.target, "script": script, "yosys": cal.yosys_version(), "designs": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
