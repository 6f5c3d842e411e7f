"""Pass ``fold_constants``: turn float parameters into integer raws of their declared formats.

Lowering may build ops whose parameters are still real numbers (float ndarrays): dense/conv
``weight`` and ``bias``, batchnorm ``scale`` and ``bias``, a lut ``table`` of output reals, and a dyadic
requantize whose ``multiplier`` holds real scales (with ``shift`` None). This pass quantises each
float array with its format (``weight_fmt``, ``bias_fmt``, ``scale_fmt``; the output format for a
table) using that format's ``to_raw`` (its rounding and overflow modes, exact for every float64), and
turns real scales into Q31 multipliers and shifts (``hwq.formats.quantize_multipliers``, TFLite's
rule). After it, every parameter is integer and the interpreter can run the graph.

``strict=True`` (default) refuses a float value outside the representable range of its format
(rather than letting the format's overflow mode wrap or saturate it silently); the error names the
op, the parameter and the format.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..graph import Graph
from ._common import PassError, copy_graph

#: parameter name -> attribute holding its format, per op kind.
_PARAM_FORMATS = {
    "weight": "weight_fmt",
    "bias": "bias_fmt",
    "scale": "scale_fmt",
}


def quantize_param(values, fmt, what: str = "parameter", strict: bool = True) -> np.ndarray:
    """Raw integers (int64, or object beyond 62 bits) of float ``values`` in ``fmt``.

    Rounds and handles overflow with ``fmt``'s modes; with ``strict`` a value beyond the format's
    range by more than half an LSB raises ``PassError`` naming ``what``.
    """
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise PassError(f"{what}: non-finite values cannot be quantised to {fmt}")
    if strict and v.size:
        half = Fraction(1, 2) * Fraction(2) ** -fmt.frac_bits
        lo, hi = Fraction(fmt.exact_min) - half, Fraction(fmt.exact_max) + half
        vmin, vmax = Fraction(float(v.min())), Fraction(float(v.max()))
        if vmin < lo or vmax > hi:
            raise PassError(
                f"{what}: values in [{float(vmin)}, {float(vmax)}] exceed the range of {fmt} "
                f"[{float(fmt.exact_min)}, {float(fmt.exact_max)}]; widen the format or pass strict=False"
            )
    return fmt.to_raw(v)


def fold_constants(graph: Graph, strict: bool = True) -> Graph:
    """A copy of ``graph`` whose float parameters are quantised to integer raws of their formats."""
    g = copy_graph(graph)
    for op in g.ops:
        for pname, fattr in _PARAM_FORMATS.items():
            arr = getattr(op, pname, None)
            if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
                fmt = getattr(op, fattr, None)
                if fmt is None:
                    raise PassError(f"fold_constants: op {op.name!r} ({op.kind}): {pname} has no format ({fattr})")
                setattr(op, pname, quantize_param(arr, fmt, f"op {op.name!r} ({op.kind}) {pname}", strict))
        if op.kind == "lut" and isinstance(op.table, np.ndarray) and op.table.dtype.kind == "f":
            yf = g.tensor(op.output).fmt
            op.table = np.asarray(quantize_param(op.table, yf, f"op {op.name!r} (lut) table", strict), np.int64)
        if op.kind == "requantize" and op.mode == "dyadic" and isinstance(op.multiplier, np.ndarray):
            if op.multiplier.dtype.kind == "f":
                if op.shift is not None:
                    raise PassError(
                        f"fold_constants: op {op.name!r} (requantize): a real-valued multiplier (scale) "
                        f"needs shift=None; got both"
                    )
                from hwq.formats.requant import quantize_multipliers

                m, s = quantize_multipliers(op.multiplier)
                op.multiplier, op.shift = np.asarray(m, np.int64), np.asarray(s, np.int64)
    return g
