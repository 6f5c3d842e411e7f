"""The golden model: executes an IR graph with exact integer arithmetic.

Every tensor is an integer ndarray (int64, or object arrays of Python ints where a width exceeds 62
bits) of raw values in units of the tensor format's LSB, with a leading batch axis.
"""

from __future__ import annotations

import numpy as np

from .compiled import cached_program
from .graph import Graph, GraphError
from .ops import EVALUATORS
from .result import RunResult, quantize_inputs

__all__ = ["RunResult", "quantize_inputs", "run"]


def run(graph: Graph, inputs, trace: bool = False, compiled: bool = True) -> RunResult:
    """Execute ``graph`` on ``inputs`` (see ``quantize_inputs``); exact integer arithmetic.

    Returns a RunResult holding the raw integers of the outputs, or of every tensor with ``trace``.
    ``compiled`` (default): plan the graph once and reuse the plan while the graph is unchanged
    (``hwq.ir.compiled``: small integers carried exactly in float32/float64 BLAS); False: call every
    op's ``evaluate`` in turn (the reference loop). Both give the same integers.
    """
    if compiled:
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
