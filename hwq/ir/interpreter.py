"""The golden model: executes an IR graph with exact integer arithmetic.

Every tensor is an integer ndarray (int64, or object arrays of Python ints where a width exceeds 62
bits) of raw values in units of the tensor format's LSB, with a leading batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Graph, GraphError
from .ops import EVALUATORS


@dataclass
class RunResult:
    """Raw integers of the graph outputs (and of every tensor when traced)."""

    graph: Graph
    raw: dict[str, np.ndarray]

    def outputs(self) -> list[np.ndarray]:
        """Raw integer arrays of the graph outputs, in graph order."""
        return [self.raw[n] for n in self.graph.outputs]

    def real(self, name: str) -> np.ndarray:
        """Real values (float64) of a tensor."""
        return self.graph.tensor(name).fmt.from_raw(self.raw[name])


def quantize_inputs(graph: Graph, inputs, carriers: dict | None = None) -> dict[str, np.ndarray]:
    """Map user inputs to raw integers: float arrays are quantised with the input tensor's format,
    integer arrays are taken as raw values already. ``inputs``: a dict by name, or one array/list in
    graph-input order. ``carriers`` (from a compiled program): input name -> float dtype in which the
    raws are returned instead (exact: the compiler only picks one that holds every raw of the format)."""
    if not isinstance(inputs, dict):
        if isinstance(inputs, (list, tuple)):
            inputs = dict(zip(graph.inputs, inputs, strict=True))
        else:
            if len(graph.inputs) != 1:
                raise GraphError(f"graph {graph.name!r} has {len(graph.inputs)} inputs; pass a dict by name")
            inputs = {graph.inputs[0]: inputs}
    out = {}
    for name in graph.inputs:
        if name not in inputs:
            raise GraphError(f"graph {graph.name!r}: no value given for input {name!r}")
        t = graph.tensor(name)
        arr = np.asarray(inputs[name])
        if arr.shape[1:] != t.shape:
            raise GraphError(
                f"graph {graph.name!r}: input {name!r} expects shape (batch, {', '.join(map(str, t.shape))}), "
                f"got {arr.shape}"
            )
        if arr.dtype.kind in "iu" or arr.dtype == object:
            lo, hi = t.fmt.raw_min, t.fmt.raw_max
            if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
                raise GraphError(f"graph {graph.name!r}: raw input {name!r} outside the range of {t.fmt}")
            # the dtype rule: int64 unless the format's raws need more than 62 bits
            wide = max(abs(lo), abs(hi)).bit_length() > 62
            carrier = carriers.get(name) if carriers else None
            if carrier is not None:
                out[name] = arr.astype(carrier)
            else:
                out[name] = arr.astype(object) if wide else arr.astype(np.int64)
        else:
            out[name] = t.fmt.to_raw(arr)
    return out


def run(graph: Graph, inputs, trace: bool = False, compiled: bool = True) -> RunResult:
    """Execute ``graph`` on ``inputs`` (see ``quantize_inputs``); exact integer arithmetic.

    Returns a RunResult holding the raw integers of the outputs, or of every tensor with ``trace``.
    ``compiled`` (default): plan the graph once and reuse the plan while the graph is unchanged
    (``hwq.ir.compiled``: small integers carried exactly in float32/float64 BLAS); False: call every
    op's ``evaluate`` in turn (the reference loop). Both give the same integers.
    """
    if compiled:
        from .compiled import cached_program

        return cached_program(graph, trace).run(inputs, trace)
    values = quantize_inputs(graph, inputs)
    for op in graph.ops:
        fn = EVALUATORS.get(op.kind)
        if fn is None:
            raise GraphError(f"op {op.name!r}: the interpreter has no implementation of op kind {op.kind!r}")
        for pname, arr in op.params().items():
            if isinstance(arr, np.ndarray) and arr.dtype.kind not in "iu" and arr.dtype != object:
                raise GraphError(
                    f"op {op.name!r} ({op.kind}): parameter {pname!r} holds {arr.dtype} values, not integer raws; "
                    "quantise it first (hwq.ir.passes.fold_constants)"
                )
        args = [values[i] for i in op.inputs]
        values[op.output] = fn(op, args, graph)
    keep = values if trace else {n: values[n] for n in graph.outputs}
    return RunResult(graph, keep)
