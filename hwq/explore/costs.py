"""Costs of a candidate for ``hwq explore``: the ONE adapter between the explorer and ``hwq.cost``.

``estimate(graph, target)`` (fast, used for every candidate) returns ``(totals, per_layer)``: cost name ->
number for the whole graph and for each Dense/Conv op. Names and units:

- FPGA targets: ``luts`` (estimated LUTs), ``adders``, ``weight_bits``. The default search model
  (``fpga_model="fast"``) is the calibrated cost model's fast path, ``hwq.cost.fpga(graph, target,
  exact=False)`` (digit-count approximation of the Verilog emitter's adder graphs, a few ms per candidate
  on the digits MLP): ``luts`` and ``adders`` are its per-layer LUT and adder figures. ``"exact"`` is
  ``hwq.cost.fpga(graph, target)`` itself (the emitter's real adder-graph planning, 1-4 s per digits-MLP
  candidate): ``explore`` prices its QAT-refined points with it by default, so the final front, the chosen
  point and the figures reported for them are the calibrated model's (the fast path over-estimates trained
  low-bit networks: +19 % median on the digits MLP's refined points, Spearman 0.99 against the exact
  model; ``benchmarks/bench_explore_verify.py --rank``). ``"proxy"`` is the older stand-in,
  ``LUTS_PER_ADDER`` x the two-input adders of ``hwq.cost.graph_cost`` (CSD digits without subexpression
  sharing);
- MCU targets: ``instructions`` (instructions of one inference), ``flash`` (bytes), ``sram`` (peak bytes),
  ``macs``. A CMSIS-NN profile graph (every MCU candidate since the explorer builds them with
  ``hwq.train.profiles.cmsis_config``) is priced by ``hwq.cost.mcu`` itself: totals are its ``instructions``,
  ``flash_bytes`` (weights, biases, requantisation constants and the code estimate of the MCU memory
  planner) and ``peak_sram_bytes`` (the planner's arena plus I/O); it takes ~15 ms per candidate (digits
  MLP/CNN, measured), so no faster stand-in is needed. Per layer (the ILP's additive table): the layer's
  kernel instructions from ``hwq.cost.mcu``, its constant bytes (weights packed, int32 biases, Q31
  multipliers and shifts) and input+output bytes; the ops between layers (pooling) are only in the totals.
  Any other graph on an MCU target falls back to the crude MAC-based figures below.

``calibrated(graph, target)`` (slow: it runs the Verilog emitter's real adder-graph planning) returns the
calibrated model's totals, ``hwq.cost.fpga`` (LUT, FF, CARRY, adders, latency cycles) or ``hwq.cost.mcu``
(instructions, flash and peak SRAM bytes), for the points the explorer reports (the chosen point, or the
whole refined front with ``precise="front"``).

``LUTS_PER_ADDER`` = 5.4 (proxy only): the calibrated model's LUTs over ``graph_cost``'s adders on the
digits MLP, 5.1-5.6 for uniform fixed<4>, fixed<8>, csd<2>, e4m3 and e2m1 weights (ranked the same by both).
"""

from __future__ import annotations

import math

#: target name -> kind; aliases "fpga" and "mcu"
TARGETS = {
    "xc7": "fpga",
    "ice40": "fpga",
    "fpga": "fpga",
    "cortex-m4": "mcu",
    "cortex-m7": "mcu",
    "cortex-m55": "mcu",
    "mcu": "mcu",
}

#: cost names per target kind; the first is the primary cost (plotted first, used by the ILP sweep)
COSTS = {"fpga": ("luts", "adders", "weight_bits"), "mcu": ("instructions", "flash", "sram", "macs")}
#: calibrated LUTs per fast-model adder (see the module docstring)
LUTS_PER_ADDER = 5.4
#: FPGA models of ``estimate``: the calibrated model's fast path (default), its exact path, or the adder-count proxy
FPGA_MODELS = ("fast", "exact", "proxy")
#: target names of the calibrated models (``hwq/cost/targets``)
_CALIBRATED_NAME = {"fpga": "xc7", "mcu": "cortex-m4"}
#: how per-layer figures combine into the total
AGGREGATE = {"sram": "max"}
_BUDGET_ALIASES = {
    "lut": "luts",
    "luts": "luts",
    "adders": "adders",
    "adder": "adders",
    "weight_bits": "weight_bits",
    "instructions": "instructions",
    "cycles": "instructions",
    "flash": "flash",
    "sram": "sram",
    "macs": "macs",
}


class TargetError(ValueError):
    """Unknown target or cost name; the message names it."""


def target_kind(target: str) -> str:
    """'fpga' or 'mcu' for a target name (raises TargetError naming an unknown target)."""
    if target not in TARGETS:
        raise TargetError(f"--target {target}: unknown target; known: {', '.join(TARGETS)}")
    return TARGETS[target]


def parse_budgets(text: str | list[str] | None, target: str) -> dict[str, float]:
    """``"LUT=20000,SRAM=4096"`` (or a list of such strings) -> {cost name: limit}. Names are
    case-insensitive (``LUT``/``luts``, ``SRAM``, ``instructions``/``cycles``, ``flash``, ``adders``); a
    cost the target does not have is refused naming it."""
    kind = target_kind(target)
    out: dict[str, float] = {}
    items = [text] if isinstance(text, str) else list(text or [])
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise TargetError(f"--budget {part}: expected NAME=VALUE, e.g. LUT=20000")
            k, v = part.split("=", 1)
            name = _BUDGET_ALIASES.get(k.strip().lower())
            if name is None or name not in COSTS[kind]:
                raise TargetError(
                    f"--budget {k.strip()}: unknown cost for target {target}; expected one of {', '.join(COSTS[kind])}"
                )
            try:
                val = float(v.strip().lower().replace("k", "e3").replace("m", "e6"))
            except ValueError:
                raise TargetError(f"--budget {part}: {v.strip()!r} is not a number") from None
            if not math.isfinite(val) or val <= 0:
                raise TargetError(f"--budget {part}: must be a positive number")
            out[name] = val
    return out


def _fpga_model(graph, target: str, exact: bool = False) -> tuple[dict, dict]:
    """(totals, per-op) of ``hwq.cost.fpga(exact=exact)`` on an FPGA target (see the module docstring)."""
    import hwq.cost as hc

    r = hc.fpga(graph, _CALIBRATED_NAME.get(target, target), exact=exact)
    per: dict[str, dict] = {}
    for row in r["layers"]:
        op = next((o for o in graph.ops if o.name == row["name"] and getattr(o, "weight", None) is not None), None)
        wbits = 0
        if op is not None:
            wfmt = op.weight_fmt
            wbits = int(op.weight.size) * int(getattr(wfmt, "bits", None) or getattr(wfmt, "width", 8))
        per[row["name"]] = {"luts": int(row["LUT"]), "adders": int(row["adders"]), "weight_bits": wbits}
    totals = {"luts": int(r["total"]["LUT"]), "adders": int(r["total"]["adders"])}
    totals["weight_bits"] = sum(p["weight_bits"] for p in per.values())
    return totals, per


def _raw_costs(graph, kind: str) -> tuple[dict, dict]:
    """(totals, per-op) of the crude models: the FPGA adder proxy, or MAC-based MCU figures (see the
    module docstring)."""
    from hwq.cost import graph_cost

    c = graph_cost(graph)
    per: dict[str, dict] = {}
    for rec in c["fpga"]["per_op"]:
        op = graph.op(rec["op"]) if hasattr(graph, "op") else next(o for o in graph.ops if o.name == rec["op"])
        wfmt = getattr(op, "weight_fmt", None)
        wbits = int(op.weight.size) * int(getattr(wfmt, "bits", None) or getattr(wfmt, "width", 8))
        if kind == "fpga":
            per[rec["op"]] = {
                "luts": int(round(LUTS_PER_ADDER * rec["adders"])),
                "adders": rec["adders"],
                "weight_bits": wbits,
            }
        else:
            tin = sum(graph.tensor(i).size for i in op.inputs)
            tout = graph.tensor(op.output).size
            per[rec["op"]] = {
                "instructions": int(round(rec["macs"] * 2.86)),
                "flash": int(math.ceil(op.weight.size * (1 if wbits / max(op.weight.size, 1) > 4 else 0.5))),
                "sram": int(tin + tout),
                "macs": rec["macs"],
            }
    totals = {}
    for k in COSTS[kind]:
        vals = [p[k] for p in per.values()]
        totals[k] = (max(vals) if AGGREGATE.get(k) == "max" else sum(vals)) if vals else 0
    return totals, per


def _mcu_costs(graph, target: str) -> tuple[dict, dict]:
    """(totals, per-op) of a CMSIS-NN profile graph from ``hwq.cost.mcu`` (see the module docstring)."""
    import hwq.cost as hc

    r = hc.mcu(graph, _CALIBRATED_NAME.get(target, target))
    rows = {row["name"]: row for row in r["layers"]}
    per: dict[str, dict] = {}
    for op in graph.ops:
        if op.name not in rows or getattr(op, "weight", None) is None:
            continue
        bits = int(getattr(op.weight_fmt, "bits", None) or getattr(op.weight_fmt, "width", 8))
        cout = int(op.weight.shape[0])
        const = int(math.ceil(op.weight.size * bits / 8)) + cout * (4 + 4 + 4)  # weights, bias, multiplier, shift
        tin = sum(graph.tensor(i).size for i in op.inputs)
        per[op.name] = {
            "instructions": rows[op.name]["instructions"],
            "flash": const,
            "sram": int(tin + graph.tensor(op.output).size),
            "macs": rows[op.name]["macs"],
        }
    t = r["total"]
    totals = {
        "instructions": t["instructions"],
        "flash": t["flash_bytes"],
        "sram": t["peak_sram_bytes"],
        "macs": t["macs"],
    }
    return totals, per


def estimate(graph, target: str, fpga_model: str = "fast") -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Costs of an IR graph on a target: (totals, per layer), see the module docstring for names and units.
    ``fpga_model``: "fast" (``hwq.cost.fpga(exact=False)``), "exact" (``hwq.cost.fpga``) or "proxy" (5.4
    LUTs per adder)."""
    kind = target_kind(target)
    if fpga_model not in FPGA_MODELS:
        raise TargetError(
            f"--fpga-cost {fpga_model}: unknown FPGA cost model; expected one of {', '.join(FPGA_MODELS)}"
        )
    if kind == "mcu" and "cmsis_nn" in getattr(graph, "meta", {}):
        totals, per = _mcu_costs(graph, target)
    elif kind == "fpga" and fpga_model in ("fast", "exact"):
        totals, per = _fpga_model(graph, target, exact=fpga_model == "exact")
    else:
        totals, per = _raw_costs(graph, kind)
    return {k: totals[k] for k in COSTS[kind]}, per


def calibrated(graph, target: str) -> dict:
    """Totals of the calibrated cost model (``hwq.cost.fpga``, Verilog backend with default options, or
    ``hwq.cost.mcu``) on ``target``; ``{"error": message}`` when the backend cannot build the graph."""
    import hwq.cost as hc

    kind = target_kind(target)
    name = _CALIBRATED_NAME.get(target, target)
    try:
        r = hc.fpga(graph, name) if kind == "fpga" else hc.mcu(graph, name)
    except (ValueError, KeyError, NotImplementedError) as e:
        return {"error": str(e).splitlines()[0]}
    keep = (
        ("LUT", "FF", "CARRY", "adders", "latency")
        if kind == "fpga"
        else ("instructions", "flash_bytes", "peak_sram_bytes")
    )
    return {"target": r["target"], "calibrated": r["calibrated"], **{k: r["total"][k] for k in keep}}
