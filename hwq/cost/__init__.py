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

__all__ = ["available", "csd_digit_count", "fpga", "graph_cost", "load_target", "mcu", "summary_cost"]


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
