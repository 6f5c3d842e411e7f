"""Pass ``validate``: the full consistency check of a graph, raising ``GraphError`` naming the culprit.

Checks, in order: inputs listed once and at least one output; every tensor format has a raw range and
no empty axis; every op's tensors have the LSB protocol its arithmetic reads (``frac_bits``,
``cast_raw``; affine ``int<W>`` tensors only where CMSIS-NN arithmetic reads them: ``_needs_fixed_lsb``);
every op kind has an interpreter implementation; no op writes a graph input; no parameter is still a float array
(run ``fold_constants``); then ``Graph.validate`` (unique names, topological order, single writers, and
every op's own ``check``: arity, shapes, parameter shapes and raw ranges, formats, geometry).
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, GraphError
from ..ops import EVALUATORS


def has_lsb_protocol(fmt) -> bool:
    """True when ``fmt`` has the IR's integer protocol: ``frac_bits`` (real = raw * 2**-frac_bits) and
    ``cast_raw`` (fixed point, minifloats; affine ints only with a power-of-two scale and zero point 0)."""
    try:
        fmt.frac_bits  # noqa: B018  (may raise ValueError for affine formats)
    except (AttributeError, ValueError):
        return False
    return hasattr(fmt, "cast_raw")


def _needs_fixed_lsb(op) -> list[str]:
    """Tensors whose format the op's arithmetic reads through frac_bits / cast_raw.

    Affine ``int<W,...>`` tensors (CMSIS-NN arithmetic, raws as plain integers) may be: any tensor of
    flatten, reshape, maxpool, add_dyadic, mul_dyadic, patch_quant, avgpool ``mode="cmsis"`` and dyadic
    requantize;
    the input of dense / conv1d / conv2d (whose ``input_offset`` carries the zero point).
    """
    if op.kind in ("flatten", "reshape", "maxpool", "add_dyadic", "mul_dyadic", "patch_quant"):
        return []
    if op.kind == "requantize" and op.mode in ("dyadic", "dyadic_s64"):
        return []
    if op.kind == "avgpool" and getattr(op, "mode", "recip") == "cmsis":
        return []
    if op.kind in ("dense", "conv1d", "conv2d"):
        return [op.output]
    return [*op.inputs, op.output]


def validate(graph: Graph) -> Graph:
    """Check ``graph`` completely; returns it unchanged (so passes chain) or raises GraphError."""
    if len(set(graph.inputs)) != len(graph.inputs):
        raise GraphError(f"graph {graph.name!r}: an input is listed twice: {graph.inputs}")
    if not graph.outputs:
        raise GraphError(f"graph {graph.name!r}: has no outputs")
    for t in graph.tensors.values():
        if not (hasattr(t.fmt, "raw_min") and hasattr(t.fmt, "raw_max")):
            raise GraphError(f"tensor {t.name!r}: {t.fmt!r} is not a number format with raw integers")
        if any(s < 1 for s in t.shape):
            raise GraphError(f"tensor {t.name!r}: shape {t.shape} has an empty axis")
    for op in graph.ops:
        for name in _needs_fixed_lsb(op):
            fmt = graph.tensor(name).fmt
            if not has_lsb_protocol(fmt):
                raise GraphError(
                    f"op {op.name!r} ({op.kind}): tensor {name!r} has format {fmt}, which has no power-of-two LSB "
                    "(frac_bits/cast_raw); affine integer tensors enter and leave through requantize (dyadic)"
                )
        if op.kind not in EVALUATORS:
            raise GraphError(f"op {op.name!r}: kind {op.kind!r} has no interpreter implementation")
        if op.output in graph.inputs:
            raise GraphError(f"op {op.name!r} ({op.kind}): writes the graph input {op.output!r}")
        for pname, arr in op.params().items():
            if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
                raise GraphError(
                    f"op {op.name!r} ({op.kind}): parameter {pname!r} holds floats; run hwq.ir.passes.fold_constants"
                )
    graph.validate()
    return graph
