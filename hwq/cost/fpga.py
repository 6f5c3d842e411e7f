"""FPGA cost model: LUT, FF, CARRY, DSP, BRAM and latency of what hwq's emitters build, per layer and total.

``backend="rtl"`` (the multiplier-free Verilog of ``hwq.rtl``) runs the emitter's own planning and
datapath builders (``rtl_plan.plan_rtl``: the real common-subexpression elimination of ``rtl.mcm``,
not an approximation), counts each layer's adder / constant-add / select / compare bits and registers,
and prices them with per-target coefficients (LUTs per bit) fitted by ``hwq cost calibrate`` against
yosys (``LUT_FEATURES``; a target's ``[model] fixed`` list keeps a coefficient at its physical value
instead of fitting it, e.g. sign-extension and subtracting bits on the LUT6). Results are cached per
layer (``rtl_plan.plan_rtl``: a hash of weights, formats, upstream ranges and options), so only changed
layers are rebuilt. Flip-flops, latency (cycles) and
DSPs (0) are counted, not fitted; CARRY cells are one per 4 adder bits (xc7 CARRY4) or one per adder bit
(iCE40 SB_CARRY) times a fitted factor, without the adders merged into a ``$macc``.

``backend="hls"`` (the HLS C++ of ``hwq.hls``) is analytical and **uncalibrated**: per Dense/Conv layer,
``ceil(MACs / reuse_factor)`` multipliers (a DSP when both operands are wider than
``dsp_min_width`` bits, else ``wx * ww`` LUT-bits x 0.6), an adder tree of accumulator width, minifloat
multiply-add units (exponent add, mantissa multiply, alignment shift, normalisation) for minifloat
weights/inputs; latency ``reuse + ceil(log2(n_in)) + 2`` cycles and initiation interval ``reuse``
(strategy ``latency``: reuse 1, fully unrolled; ``resource``: the given reuse factor).
"""

from __future__ import annotations

import math

import numpy as np

from .rtl_dag import fifo_cells
from .rtl_model import LayerFeatures, top_latency
from .rtl_plan import plan_rtl
from .targets import load_target

#: features priced by an FPGA target's [coefficients] lut_* entries (LUTs per feature unit)
LUT_FEATURES = {
    "lut_add": "own_bits",
    "lut_ext": "ext_bits",
    "lut_sub": "sub_bits",
    "lut_sub_reg": "sub_reg_bits",  # subtracted operand bits straight from a flip-flop (LUT4: an inverter each)
    "lut_macc": "macc_bits",
    "lut_const": "const_bits",
    "lut_mux": "mux_bits",
    "lut_cmp": "cmp_bits",
    "lut_sat_raw": "sat_raw_bits",
    "lut_skid": "skid_bits",
    "lut_window": "window_bits",
    "lut_window_pad": "window_pad_bits",
    "lut_frame": "frame_bits",
    "lut_decode": "dec_bits",  # minifloat input decoders (rtl_model.decode_bits)
    "lut_max": "max_bits",  # maxpool compare-and-select bits
    "lut_layer": None,  # per layer module
}
UNITS = {"LUT": "cells", "FF": "cells", "CARRY": "cells", "DSP": "cells", "BRAM": "cells", "latency": "cycles"}


def lut_vector(feat: LayerFeatures) -> np.ndarray:
    """Feature vector of one layer in ``LUT_FEATURES`` order (bits; the last entry is 1 per layer)."""
    return np.array([getattr(feat, a) if a else 1 for a in LUT_FEATURES.values()], dtype=float)


def design_vector(layers: list[LayerFeatures]) -> np.ndarray:
    """Sum of the layers' feature vectors (a whole design)."""
    return np.sum([lut_vector(f) for f in layers], axis=0)


def coefficient_vector(target: dict) -> np.ndarray:
    """The target's LUT coefficients in ``LUT_FEATURES`` order."""
    co = target.get("coefficients", {})
    return np.array([float(co.get(k, 0.0)) for k in LUT_FEATURES], dtype=float)


def compares_on_lcu(target: dict | None) -> bool:
    """True when the target's yosys script maps comparisons with constants through ``cmp2lcu`` (LUT6
    look-ahead: ``synth_xilinx``), whose constant-folded logic stops reading the low bits below the
    constant's trailing run; else (``synth_ice40``) they are subtractions on the carry chain."""
    script = (target or {}).get("synth", {}).get("script", "")
    return script.split()[0] == "synth_xilinx" if script else False


def layer_ff(feat: LayerFeatures, target: dict | None = None) -> int:
    """Flip-flops of one layer on ``target`` (a loaded target dict; None: comparisons on carry chains):
    datapath registers (``ff``, or ``ff_lcu`` when ``compares_on_lcu(target)``) plus its skid buffer
    (2 x (width + 1)), line buffer (shift register, window register, counters), frame collect/split
    registers and, on the last layer of a streamed output, the top's ``m_axis_tlast`` beat counter; less
    the bits of those input-side registers that hold a constant or a copy of another bit
    (``skid_const_bits``, ``window_const_bits``, ``frame_const_bits``: ``rtl_model.input_dup_bits``) and,
    off ``synth_xilinx``, the constant counter bits it keeps (``window_static_bits``)."""
    skid = 2 * (feat.skid_bits - feat.skid_const_bits + 1) if feat.skid_bits else 0
    win = feat.window_bits + feat.window_taps_bits + feat.window_counter_bits - feat.window_const_bits
    if not compares_on_lcu(target):  # synth_ice40 removes the constant counter bits synth_xilinx merges
        win -= feat.window_static_bits
    data = feat.ff_lcu if compares_on_lcu(target) and feat.ff_lcu else feat.ff
    return data + skid + win + feat.frame_bits - feat.frame_const_bits + feat.tlast_bits


def layer_carry(feat: LayerFeatures, target: dict) -> float:
    """CARRY cells of one layer for the target (xc7: per 4-bit block, iCE40: per adder bit)."""
    co = target.get("coefficients", {})
    if "carry_per_bit" in co:
        return co["carry_per_bit"] * (feat.add_bits + feat.const_bits - feat.macc_bits)
    return co.get("carry_per_block", 1.0) * feat.carry4


def fpga(graph, target="xc7", backend: str = "rtl", **options) -> dict:
    """FPGA cost of ``graph`` (an IR ``Graph``) on ``target`` (name, .toml path or dict).

    ``backend="rtl"``: options are the Verilog emitter's (``pipeline`` int >= 0, default 1; ``io``
    ``"stream"``/``"parallel"``; ``adders`` an adder-graph style, default the emitter's) plus ``exact``:
    True (default: run the emitter's CSE and datapath builders, seconds for a large layer) or False
    (``fast.py``: digit-count approximation, milliseconds; LUT features within a few % of the exact ones,
    adder levels and latency equal to them on nearly every layer, FF from what each pipeline register
    holds; a layer DAG's forks, FIFOs, skid buffers and line buffers counted as the exact model does).
    ``backend="hls"``: ``reuse_factor`` (default 1), ``strategy`` (``"latency"``/``"resource"``),
    ``dsp_min_width`` (default 10).
    Returns ``{"target", "backend", "units", "calibrated", "layers": [{name, LUT, FF, CARRY, DSP, BRAM,
    latency, ...features}], "total": {LUT, FF, CARRY, DSP, BRAM, latency, latency_exact, adders}}``;
    LUT/FF/CARRY/DSP/BRAM in cells of the target, latency in clock cycles.
    Raises ValueError naming the target/backend/op when the graph or option is not supported.
    """
    tgt = load_target(target)
    if tgt.get("target", {}).get("kind") != "fpga":
        raise ValueError(f"cost target {tgt['target'].get('name')!r} is not an FPGA target")
    if backend == "rtl":
        return _fpga_rtl(graph, tgt, **options)
    if backend == "hls":
        return _fpga_hls(graph, tgt, **options)
    raise ValueError(f"unknown FPGA cost backend {backend!r} (known: rtl, hls)")


def _fpga_rtl(
    graph, tgt: dict, pipeline: int = 1, io: str = "stream", adders: str | None = None, exact: bool = True
) -> dict:
    from .rtl_model import emitter_default_adders

    adders = adders or emitter_default_adders()
    if exact:
        feats = plan_rtl(graph, pipeline=pipeline, io=io, adders=adders)
    else:
        from .fast_plan import plan_fast

        feats = plan_fast(graph, pipeline=pipeline, io=io, adders=adders)
    coef = coefficient_vector(tgt)
    fifo = fifo_cells(feats, tgt)
    rows = []
    for f, (fifo_ff, fifo_bram) in zip(feats, fifo):
        rows.append(
            {
                "name": f.name,
                "style": f.style,
                "ops": f.kinds,
                "LUT": int(round(float(lut_vector(f) @ coef))),
                "FF": layer_ff(f, tgt) + fifo_ff,
                "CARRY": int(round(layer_carry(f, tgt))),
                "DSP": 0,
                "BRAM": fifo_bram,
                "latency": f.latency,
                "adders": f.adders,
                "levels": f.levels,
                "features": f.as_dict(),
            }
        )
    lat, lat_exact = top_latency(feats)
    total = {k: sum(r[k] for r in rows) for k in ("LUT", "FF", "CARRY", "DSP", "BRAM", "adders")}
    total["latency"] = lat
    total["latency_exact"] = exact and lat_exact
    return {
        "target": tgt["target"]["name"],
        "backend": "rtl",
        "options": {"pipeline": pipeline, "io": io, "adders": adders, "exact": exact},
        "units": UNITS,
        "calibrated": bool(tgt.get("coefficients", {}).get("calibrated", False)),
        "layers": rows,
        "total": total,
    }


def _fmt_width(fmt) -> int:
    return int(getattr(fmt, "width", 8))


def _is_float(fmt) -> bool:
    return type(fmt).__name__ == "FloatFormat"


def _fpga_hls(graph, tgt: dict, reuse_factor: int = 1, strategy: str = "latency", dsp_min_width: int = 10) -> dict:
    if strategy not in ("latency", "resource"):
        raise ValueError(f"hls cost: strategy must be 'latency' or 'resource', got {strategy!r}")
    if not isinstance(reuse_factor, int) or reuse_factor < 1:
        raise ValueError(f"hls cost: reuse_factor must be an integer >= 1, got {reuse_factor!r}")
    reuse = 1 if strategy == "latency" else reuse_factor
    lut_in = int(tgt["target"].get("lut_inputs", 6))
    scale = 6.0 / lut_in  # narrower LUTs need more of them per bit-operation
    rows = []
    for op in graph.ops:
        w = getattr(op, "weight", None)
        xt, yt = graph.tensor(op.inputs[0]), graph.tensor(op.output)
        if w is None or not isinstance(w, np.ndarray):
            rows.append(
                {"name": op.name, "kind": op.kind, "LUT": int(yt.size * _fmt_width(yt.fmt) * 0.5 * scale)}
                | {"FF": yt.size * _fmt_width(yt.fmt), "CARRY": 0, "DSP": 0, "BRAM": 0, "latency": 1, "ii": 1}
            )
            continue
        n_out = w.shape[0]
        n_in = int(np.prod(w.shape[1:]))
        positions = int(np.prod(yt.shape[1:])) if op.kind.startswith("conv") else 1
        nz = int(np.count_nonzero(w))
        mults = math.ceil(nz / reuse)
        wx, ww = _fmt_width(xt.fmt), _fmt_width(getattr(op, "weight_fmt", None))
        acc = _fmt_width(getattr(op, "acc_fmt", None) or yt.fmt)
        if _is_float(xt.fmt) or _is_float(getattr(op, "weight_fmt", None)):
            fx = getattr(op, "weight_fmt", xt.fmt)
            e, m = getattr(fx, "exp_bits", 4), getattr(fx, "man_bits", 3)
            per = e + (m + 1) ** 2 * 0.6 + acc * math.log2(max(acc, 2)) / 2 + acc  # exp add, mant mul, align, norm
            lut_m, dsp = mults * per, 0
        elif wx > dsp_min_width and ww > dsp_min_width:
            lut_m, dsp = 0.0, mults
        else:
            lut_m, dsp = mults * wx * ww * 0.6, 0
        adders = max(0, math.ceil(nz / reuse) - math.ceil(n_out / reuse))
        lut = (lut_m + adders * acc) * scale
        lat = reuse + math.ceil(math.log2(max(n_in, 2))) + 2
        rows.append(
            {
                "name": op.name,
                "kind": op.kind,
                "LUT": int(round(lut)),
                "FF": int(n_out * acc + (mults * acc if reuse > 1 else 0)),
                "CARRY": int(math.ceil(adders * acc / 4)),
                "DSP": int(dsp),
                "BRAM": int(math.ceil(nz * ww / 18432)) if reuse > 1 else 0,
                "latency": lat * (positions if positions > 1 else 1),
                "ii": reuse * positions,
                "multipliers": mults,
            }
        )
    total = {k: sum(r[k] for r in rows) for k in ("LUT", "FF", "CARRY", "DSP", "BRAM", "latency")}
    total["ii"] = max((r["ii"] for r in rows), default=1)
    total["latency_exact"] = False
    return {
        "target": tgt["target"]["name"],
        "backend": "hls",
        "options": {"reuse_factor": reuse, "strategy": strategy, "dsp_min_width": dsp_min_width},
        "units": UNITS | {"ii": "cycles"},
        "calibrated": False,
        "layers": rows,
        "total": total,
    }
