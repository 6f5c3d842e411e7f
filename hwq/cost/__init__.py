"""``hwq.cost``: FPGA and microcontroller cost models, built from what hwq's emitters really produce.

- ``fpga(graph, target="xc7", backend="rtl"|"hls", **emit_options)``: per layer and total LUT, FF,
  CARRY, DSP, BRAM (cells) and latency (cycles; initiation interval for HLS), see ``fpga.py``;
- ``mcu(graph, target="cortex-m4")``: per layer instructions and MACs, total flash and peak SRAM
  (bytes, from the MCU memory planner), see ``mcu.py``;
- targets are data files ``hwq/cost/targets/*.toml`` (``targets.py``), FPGA targets calibrated
  against yosys by ``hwq cost calibrate`` (``calibrate.py``);
- ``graph_cost(graph)``: the fast analytical estimate (CSD digits, no sharing) kept for callers that
  need microseconds per call (``legacy.py``); ``summary_cost`` is the flow's ``summary.json`` section.
"""

from __future__ import annotations

from .fpga import fpga
from .legacy import csd_digit_count, graph_cost
from .mcu import mcu
from .targets import available, load_target

__all__ = [
    "available",
    "csd_digit_count",
    "flow_measured",
    "fpga",
    "graph_cost",
    "load_target",
    "mcu",
    "summary_cost",
]


def summary_cost(
    graph, *, fpga_target: str = "xc7", mcu_target: str = "cortex-m4", measured: dict | None = None
) -> dict:
    """The flow's ``summary.json`` ``cost`` section: ``{"fpga": {target, estimate, layers, measured},
    "mcu": {...}}``. ``estimate``: totals of ``fpga`` (Verilog backend, default options) and ``mcu``;
    ``measured``: figures the flow measured (``{"fpga": {...}, "mcu": {...}}``), placed beside them.
    A backend that cannot implement the graph gets ``{"error": message}``."""
    measured = measured or {}
    out: dict = {}
    for key, fn, tgt in (("fpga", fpga, fpga_target), ("mcu", mcu, mcu_target)):
        try:
            r = fn(graph, tgt)
        except (ValueError, KeyError, NotImplementedError) as e:
            out[key] = {"target": tgt, "error": str(e), "measured": measured.get(key) or {}}
            continue
        out[key] = {
            "target": r["target"],
            "calibrated": r["calibrated"],
            "estimate": {k: v for k, v in r["total"].items() if not isinstance(v, bool)},
            "layers": [{k: v for k, v in lay.items() if k != "features"} for lay in r["layers"]],
            "measured": measured.get(key) or {},
        }
    return out


def flow_measured(verify_results: dict, out_dir=None) -> dict:
    """Measured figures of a flow run to stand beside the estimates: ``{"fpga": {...}, "mcu": {...}}``.

    FPGA: ``latency`` (cycles, the RTL simulation's ``latency_cycles``) and ``adders`` (``rtl.json``);
    MCU: ``instructions`` (QEMU ``total_instructions``), ``arena_bytes``, ``flash_bytes`` (the model alone
    linked from its run entry, ``sim.mcurun.model_flash_bytes``: what ``hwq.cost.mcu`` estimates) and
    ``firmware_bytes`` (text + data of the QEMU program: harness, startup and C library included) and ``cpu``
    (the QEMU board's CPU) when the flow ran a Cortex-M build. Missing figures are left out."""
    import json
    from pathlib import Path

    fpga_m: dict = {}
    rtl = verify_results.get("rtl") or {}
    if rtl.get("latency_cycles") is not None:
        fpga_m["latency"] = rtl["latency_cycles"]
    if out_dir is not None and (Path(out_dir) / "rtl" / "rtl.json").exists():
        man = json.loads((Path(out_dir) / "rtl" / "rtl.json").read_text())
        fpga_m["adders"] = sum(int(lay.get("adders", 0)) for lay in man.get("layers", []))
    m = verify_results.get("mcu") or {}
    mcu_m: dict = {}
    if m.get("total_instructions") is not None:
        mcu_m["instructions"] = m["total_instructions"]
    if m.get("arena_bytes") is not None:
        mcu_m["arena_bytes"] = m["arena_bytes"]
    if m.get("model_flash_bytes") is not None:
        mcu_m["flash_bytes"] = int(m["model_flash_bytes"])
    if m.get("text_bytes") is not None:
        mcu_m["firmware_bytes"] = int(m["text_bytes"]) + int(m.get("data_bytes", 0))
    if mcu_m and m.get("qemu_cpu"):
        mcu_m["cpu"] = m["qemu_cpu"]
    return {"fpga": fpga_m, "mcu": mcu_m}
