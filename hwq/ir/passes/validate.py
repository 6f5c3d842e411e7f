"""Pass ``validate``: the full consistency check of a graph, raising ``GraphError`` naming the culprit.

Checks, in order: ``Graph.validate`` (unique names, topological order, single writers, every op's own
``check``: arity, shapes, parameter shapes and raw ranges, formats, geometry); every tensor format has
the integer protocol (``frac_bits``, ``cast_raw``); graph inputs are not written by ops and are listed
once; every op kind has an interpreter implementation; no parameter is still a float array (run
``fold_constants``); input and output tensors are distinct.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, GraphError
from ..ops import EVALUATORS


def validate(graph: Graph) -> Graph:
    """Check ``graph`` completely; returns it unchanged (so passes chain) or raises GraphError."""
    if len(set(graph.inputs)) != len(graph.inputs):
        raise GraphError(f"graph {graph.name!r}: an input is listed twice: {graph.inputs}")
    if not graph.outputs:
        raise GraphError(f"graph {graph.name!r}: has no outputs")
    for t in graph.tensors.values():
        if not (hasattr(t.fmt, "frac_bits") and hasattr(t.fmt, "cast_raw")):
            raise GraphError(f"tensor {t.name!r}: {t.fmt!r} is not a number format with raw integers")
        if any(s < 1 for s in t.shape):
            raise GraphError(f"tensor {t.name!r}: shape {t.shape} has an empty axis")
    for op in graph.ops:
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
