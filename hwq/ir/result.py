"""Inputs and results of running an IR graph: ``quantize_inputs`` (user values to raw integers) and
``RunResult`` (raw integers of the outputs, or of every tensor). Shared by the op-by-op interpreter
(``hwq.ir.interpreter``) and the compiled program (``hwq.ir.compiled``), which both import this module
and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Graph, GraphError


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
