"""Whole-network check of the FPGA cost model: the xc7 estimate (``hwq.cost.fpga``, exact model, the emitter's
default options: pipeline 1, stream I/O, balanced adders, which ``benchmarks/minifloat_vs_fixed.py`` also emits
with) against yosys for the digits MLP and CNN of ``benchmarks/minifloat_vs_fixed.py``, whole design and per
layer module.

Inputs (no synthesis is run here): ``WORK/<model>/<config>/run/graph.json`` and ``synth.json`` (whole design)
/ ``synth_<layer>.json`` (one layer module) written by ``minifloat_vs_fixed.py --work WORK``, and per-layer
syntheses of the CNN layer modules (``--layers DIR``: JSON files with ``module``, ``LUT``, ``FF``, ``CARRY``
as ``hwq.rtl.synth_report`` returns them, plus ``cpu_s``), all with the xc7 target's yosys script.

    python benchmarks/cost_whole_network.py --work /tmp/s5e --layers /tmp/s6a/cache \
        --json benchmarks/results/cost_whole_network.json --md benchmarks/results/cost_whole_network.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

CONFIGS = ["fixed4", "fixed6", "fixed8", "e2m1", "e3m2", "e4m3"]


def _pct(e: float, m: float) -> float:
    return round((e - m) / m * 100, 1)


def _alone(graph) -> dict:
    """The xc7 estimate with every layer's inputs taken as free ports (no constant low bits carried over
    from the layer before, ``rtl_model.low_zero_bits``, and no constant or equal output bits of the layer
    before, ``rtl_model._cross_layer_constants``: LUT and FF), as a layer module synthesised alone sees them."""
    from unittest import mock

    from hwq.cost import rtl_model
    from hwq.cost.fpga import fpga

    rtl_model.clear_cache()
    with (
        mock.patch.object(rtl_model, "_out_low_zero", lambda node, tz: 0),
        mock.patch.object(rtl_model, "_cross_layer_constants", lambda: False),
    ):
        out = fpga(graph, "xc7")
    rtl_model.clear_cache()
    return out


def rows(work: Path, layers: Path | None) -> list[dict]:
    """One row per (model, config, layer or 'all') with a yosys count: estimate, yosys, error % (LUT/FF/CARRY)."""
    from hwq.cost.fpga import fpga
    from hwq.cost.targets import load_target
    from hwq.ir.serialize import load

    mods = {}
    for f in sorted(layers.glob("*.json")) if layers else []:
        r = json.loads(f.read_text())
        if "module" in r:
            mods[r["module"]] = r
    out = []
    for model in ("mlp", "cnn"):
        for cfg in CONFIGS:
            d = work / model / cfg
            gp = d / "run" / "graph.json"
            if not gp.exists():
                continue
            est = fpga(load(gp), "xc7")
            alone = _alone(load(gp))  # per-layer rows: the model without cross-layer constant low bits
            coef = load_target("xc7")["coefficients"]
            top = json.loads((d / "rtl" / "rtl.json").read_text())["top"]
            meas = {"all": d / "synth.json"} | {ly["name"]: d / f"synth_{ly['name']}.json" for ly in est["layers"]}
            for name, path in meas.items():
                e = est["total"] if name == "all" else next(x for x in alone["layers"] if x["name"] == name)
                m = json.loads(path.read_text()) if path.exists() else mods.get(f"{top}_{name}")
                if not m:
                    continue
                row = {"model": model, "config": cfg, "layer": name}
                skid = {"LUT": 0, "FF": 0}
                if name != "all":  # the skid buffer and frame collect/split in front of a layer are in the top
                    f = e["features"]
                    skid["LUT"] = round(coef.get("lut_skid", 0.0) * f["skid_bits"])
                    skid["LUT"] += round(coef.get("lut_frame", 0.0) * f["frame_bits"])
                    skid["FF"] = 2 * (f["skid_bits"] - f["skid_const_bits"] + 1) if f["skid_bits"] else 0
                    skid["FF"] += f["frame_bits"]
                for k in ("LUT", "FF", "CARRY"):
                    row[f"est_{k}"], row[f"yosys_{k}"] = e[k] - skid.get(k, 0), m[k]
                    row[f"err_{k}"] = _pct(row[f"est_{k}"], m[k])
                row["yosys_cpu_s"] = m.get("synth_cpu_s", m.get("cpu_s"))
                out.append(row)
    return out


def markdown(rs: list[dict], commit: str, version: str) -> str:
    """The table as markdown (numbers with thousands separators, errors in %)."""
    lines = [
        f"Estimate at {commit} (xc7, exact model) against {version} "
        "(`synth_xilinx -flatten -nosrl -noiopad -noclkbuf`). `all`: the whole design; a layer: its module "
        "synthesised alone (inputs are free ports; the estimate without the skid buffer and frame "
        "registers in front of it, which the top holds).",
        "",
        "| model | config | layer | LUT est | LUT yosys | LUT err | FF est | FF yosys | FF err "
        "| CARRY4 est | CARRY4 yosys |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rs:
        lines.append(
            f"| {r['model']} | {r['config']} | {r['layer']} | {r['est_LUT']:,} | {r['yosys_LUT']:,} | "
            f"{r['err_LUT']:+.1f} % | {r['est_FF']:,} | {r['yosys_FF']:,} | {r['err_FF']:+.1f} % | "
            f"{r['est_CARRY']:,} | {r['yosys_CARRY']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line: see the module docstring."""
    from hwq.cost.calibrate import yosys_version
    from hwq.io import atomic_write

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="minifloat_vs_fixed.py work folder")
    ap.add_argument("--layers", type=Path, default=None, help="folder of per-module synthesis JSON files")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--md", type=Path, required=True)
    a = ap.parse_args()
    rs = rows(a.work, a.layers)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    version = yosys_version()
    atomic_write(a.json, json.dumps({"commit": commit, "yosys": version, "target": "xc7", "rows": rs}, indent=1) + "\n")
    atomic_write(a.md, markdown(rs, commit, version))
    print(markdown(rs, commit, version))


if __name__ == "__main__":
    main()
