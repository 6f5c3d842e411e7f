"""Datapaths of the element-wise IR ops with several operands or per-channel constants: Add, Mul, Concat,
BatchNorm. Each follows its IR module (``hwq.ir.ops.<op>``): an exact result, then one ``Datapath.cast``
to the output format (its rounding, then its overflow).
"""

from __future__ import annotations

import numpy as np

from hwq.ir.graph import Graph

from .constmul import add_const, add_values, const_mul
from .datapath import Datapath, RtlError, Value
from .varmul import var_mul


def build_add(dp: Datapath, graph: Graph, op, args: list[list[Value]], k: int) -> list[Value]:
    """IR Add: ``cast_out(a + b)``, both operands aligned to the finer LSB (exact sum, one adder)."""
    out_fmt = graph.tensor(op.output).fmt
    a, b = args
    outs = []
    for j, (x, y) in enumerate(zip(a, b)):
        what = f"{op.name} (add) element {j}"
        s = add_values(dp, f"e{k}_s{j}", x, y, f"{what}: exact sum")
        outs.append(dp.cast(f"e{k}_y{j}", s, out_fmt, f"{what} -> {out_fmt}"))
    return outs


def build_mul(dp: Datapath, graph: Graph, op, args: list[list[Value]], k: int) -> list[Value]:
    """IR Mul: ``cast_out(a * b)``, the product exact (shift-and-add array, ``varmul.var_mul``)."""
    out_fmt = graph.tensor(op.output).fmt
    a, b = args
    outs = []
    for j, (x, y) in enumerate(zip(a, b)):
        what = f"{op.name} (mul) element {j}"
        p = var_mul(dp, f"m{k}_p{j}", x, y, what)
        outs.append(dp.cast(f"m{k}_y{j}", p, out_fmt, f"{what} -> {out_fmt}"))
    return outs


def concat_sources(graph: Graph, op) -> list[tuple[int, int]]:
    """For each output element (row-major): (input index, element index of that input, row-major)."""
    parts = []
    for i, name in enumerate(op.inputs):
        t = graph.tensor(name)
        idx = np.arange(t.size, dtype=np.int64).reshape(t.shape) if t.shape else np.arange(1)
        parts.append(idx * len(op.inputs) + i)  # code (element, input) in one integer
    codes = np.concatenate(parts, axis=int(op.axis)).ravel()
    n = len(op.inputs)
    return [(int(c % n), int(c // n)) for c in codes]


def build_concat(dp: Datapath, graph: Graph, op, args: list[list[Value]], k: int) -> list[Value]:
    """IR Concat: every input element cast to the output format, placed by the row-major index mapping."""
    out_fmt = graph.tensor(op.output).fmt
    for name, vals in zip(op.inputs, args):
        if len(vals) != graph.tensor(name).size:
            raise RtlError(
                f"op {op.name!r} (concat): input {name!r} arrives as {len(vals)} of its {graph.tensor(name).size} "
                "elements (a streamed layer); the Verilog emitter concatenates whole tensors only"
            )
    outs = []
    for j, (i, e) in enumerate(concat_sources(graph, op)):
        what = f"{op.name} (concat) output {j} = {op.inputs[i]}[{e}]"
        outs.append(dp.cast(f"k{k}_y{j}", args[i][e], out_fmt, f"{what} -> {out_fmt}"))
    return outs


def build_batchnorm(dp: Datapath, graph: Graph, op, args: list[list[Value]], k: int, channel_of) -> list[Value]:
    """IR BatchNorm: ``cast_out(x * scale[c] + bias[c])`` exact (CSD constant product), c = channel_of(j)."""
    out_fmt = graph.tensor(op.output).fmt
    fs, fb = op.scale_fmt.frac_bits, op.bias_fmt.frac_bits
    outs = []
    for j, x in enumerate(args[0]):
        c = channel_of(j)
        sc, bi = int(op.scale[c]), int(op.bias[c])
        what = f"{op.name} (batchnorm) element {j}, channel {c}"
        p = const_mul(dp, f"b{k}_p{j}", x, sc, fs, f"{what}: x * scale {sc} ({op.scale_fmt})")
        s = add_const(dp, f"b{k}_s{j}", p, bi, fb, f"{what}: + bias {bi} ({op.bias_fmt})")
        outs.append(dp.cast(f"b{k}_y{j}", s, out_fmt, f"{what} -> {out_fmt}"))
    return outs
