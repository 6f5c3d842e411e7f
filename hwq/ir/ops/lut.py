"""Lookup-table activation: the output raw is a table entry indexed by the input's bit pattern.

x raw in the input format (W_in <= 16 bits); ``table`` an integer array of ``2**W_in`` raws of the
output format::

    y = table[to_bits_in(x)]          # to_bits: the W_in-bit register pattern (two's complement for
                                      # signed fixed point, i.e. x mod 2**W_in; the encoding for floats)

No arithmetic happens at run time: the table is the specification. ``table_for(fn, in_fmt, out_fmt)``
builds one from a real function (evaluated in float64 on every representable input, then quantised
with the output format's rounding and overflow); ``sigmoid_table`` and ``tanh_table`` use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..graph import Graph, Op, register
from .common import check_arity, check_int_param, op_error

#: largest input width a table may be indexed by (2**16 entries).
MAX_LUT_BITS = 16


@register
@dataclass
class LUT(Op):
    """Table lookup indexed by the input's bit pattern; ``table`` holds output raws."""

    kind = "lut"
    table: np.ndarray = None  # int64 (2**W_in,), output raws indexed by the input bit pattern
    function: str = ""  # informative name of the tabulated function ("sigmoid", "tanh", ...)

    def params(self) -> dict[str, np.ndarray]:
        return {"table": self.table}

    def check(self, graph: Graph) -> None:
        check_arity(self, 1)
        x, y = graph.tensor(self.inputs[0]), graph.tensor(self.output)
        if x.shape != y.shape:
            raise op_error(self, f"input {x.name!r} {x.shape} and output {y.name!r} {y.shape} shapes differ")
        w = getattr(x.fmt, "width", None)
        if w is None or w > MAX_LUT_BITS:
            raise op_error(self, f"input format {x.fmt} is wider than {MAX_LUT_BITS} bits: too wide for a table")
        check_int_param(self, "table", self.table, y.fmt, (1 << w,))


def evaluate(op: LUT, args: list[np.ndarray], graph: Graph) -> np.ndarray:
    """x raw (B, ...) -> y raw (B, ...) = table[to_bits(x)]."""
    (x,) = args
    xf = graph.tensor(op.inputs[0]).fmt
    idx = np.asarray(xf.to_bits(x)).astype(np.int64)
    table = np.asarray(op.table)
    wide = getattr(graph.tensor(op.output).fmt, "width", 0) > 62
    table = table.astype(object if wide else np.int64)  # the interpreter's dtype rule
    return table[idx]


def table_for(fn: Callable[[np.ndarray], np.ndarray], in_fmt, out_fmt) -> np.ndarray:
    """Output raws of ``fn`` for every input bit pattern 0 .. 2**W_in - 1 (length 2**W_in; int64, or
    Python ints for outputs wider than 62 bits).

    ``fn`` maps float64 reals to float64 reals; the result is quantised with ``out_fmt.to_raw`` (its
    rounding and overflow). Non-finite inputs (float NaN codes) map to output raw 0.
    """
    w = in_fmt.width
    if w > MAX_LUT_BITS:
        raise ValueError(f"{in_fmt}: {w} bits is too wide for a lookup table (max {MAX_LUT_BITS})")
    codes = np.arange(1 << w, dtype=np.int64)
    try:
        real = np.asarray(in_fmt.from_raw(in_fmt.from_bits(codes)), dtype=np.float64)
    except ValueError:  # a float format whose inf/NaN codes have no raw value: those entries give 0
        real = np.full(codes.shape, np.nan)
        for c in codes:
            try:
                real[c] = float(np.asarray(in_fmt.from_raw(in_fmt.from_bits(np.array([c])))).ravel()[0])
            except ValueError:
                pass
    with np.errstate(all="ignore"):
        out = np.asarray(fn(real), dtype=np.float64)
    out = np.where(np.isfinite(real), out, 0.0)
    raw = np.asarray(out_fmt.to_raw(out))
    return raw if raw.dtype == object else raw.astype(np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.array([1.0 / (1.0 + math.exp(-v)) if v > -700 else 0.0 for v in x.ravel()]).reshape(x.shape)


def sigmoid_table(in_fmt, out_fmt) -> np.ndarray:
    """``table_for`` the logistic sigmoid 1 / (1 + exp(-x))."""
    return table_for(_sigmoid, in_fmt, out_fmt)


def tanh_table(in_fmt, out_fmt) -> np.ndarray:
    """``table_for`` tanh."""
    return table_for(np.tanh, in_fmt, out_fmt)
