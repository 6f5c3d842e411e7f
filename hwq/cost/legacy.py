"""Analytical cost model of an IR graph, for ranking configurations before any tool runs.

FPGA (multiplier-free datapath): every constant product is a sum of signed power-of-two terms, one per
non-zero canonical-signed-digit (CSD) of the weight, so a dot product of n terms with d non-zero digits in
all needs d - 1 two-input adders (before sharing common subexpressions; the Verilog emitter's sharing
lowers it). Each adder costs about one LUT per result bit (a LUT6 + carry chain per bit on Xilinx
fabric), so LUTs ~ sum over adders of the accumulator width. DSPs: 0.

MCU (CMSIS-NN style int8 kernels): MACs, weight bytes (8 bits, or 4 when every weight fits int4),
peak activation bytes of the largest op's input plus output (no tiling), and a cycle estimate of
2.86 cycles/MAC (arm_convolve_s8 on Cortex-M4, measured in QEMU; see the project's reference notes).
"""

from __future__ import annotations

import numpy as np

from hwq.formats.csd import csd_digit_count

CYCLES_PER_MAC_CORTEX_M4 = 2.86


def _positions(graph, op) -> int:
    """Output positions sharing each weight (1 for dense; spatial size for convolutions)."""
    out = graph.tensor(op.output)
    w = op.weight
    if w.ndim <= 2:
        return 1
    return int(np.prod(out.shape[1:])) if len(out.shape) > 1 else 1


def graph_cost(graph) -> dict:
    """FPGA and MCU cost estimates of a graph: {"fpga": {...}, "mcu": {...}} (see module docstring)."""
    adders = luts = macs = weight_bits = 0
    weight_bytes = 0
    peak_bytes = 0
    per_op = []
    for op in graph.ops:
        tin = [graph.tensor(i) for i in op.inputs]
        tout = graph.tensor(op.output)
        act = sum(t.size for t in tin) + tout.size
        peak_bytes = max(peak_bytes, act)
        w = getattr(op, "weight", None)
        if w is None or not isinstance(w, np.ndarray) or w.dtype == object:
            continue
        pos = _positions(graph, op)
        digits = csd_digit_count(w).reshape(w.shape[0], -1).sum(axis=1)
        op_adders = int(np.maximum(digits - 1, 0).sum()) + int(w.shape[0])  # + bias add per output
        acc = getattr(op, "acc_fmt", None)
        acc_w = acc.width if acc is not None else 32
        op_macs = int(w.size) * pos
        wfmt = getattr(op, "weight_fmt", None)
        wb = getattr(wfmt, "width", 8)
        adders += op_adders * pos
        luts += op_adders * pos * acc_w
        macs += op_macs
        weight_bits += int(w.size) * wb
        weight_bytes += int(w.size) * (1 if wb > 4 else 0.5)
        per_op.append({"op": op.name, "kind": op.kind, "macs": op_macs, "adders": op_adders * pos})
    return {
        "fpga": {"adders": adders, "luts_est": luts, "dsp": 0, "weight_bits": weight_bits, "per_op": per_op},
        "mcu": {
            "macs": macs,
            "weight_bytes": int(np.ceil(weight_bytes)),
            "peak_activation_bytes": int(peak_bytes),
            "cycles_est_cortex_m4": int(round(macs * CYCLES_PER_MAC_CORTEX_M4)),
        },
    }
