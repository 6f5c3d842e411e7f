"""Cut an IR graph into Verilog layer modules, each with one input and one output stream.

The graph must have one input and one output tensor, fixed-point formats everywhere and only ops the
emitter supports (``build.SUPPORTED_OPS``). Ops are walked in topological order while tracking the
*live* tensors (produced, still to be read). A new layer may start only where exactly one tensor is live
(a cut point), and it does start at every Dense/Conv1d/Conv2d op at a cut point, unless the current layer
holds only layout ops (Flatten/Reshape). Element-wise, pooling and activation ops join the layer before
them, and a branching region (a residual Add, a Concat of two paths) stays inside one layer, where its
datapath is one netlist. Each layer's ``style`` says how its module is built: ``"parallel"`` (the whole
input tensor is one stream beat; every op is unrolled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hwq.formats import FixedFormat
from hwq.io import unique_identifiers
from hwq.ir.graph import Graph

from .build import MATRIX_OPS, check_supported
from .datapath import RtlError


@dataclass
class LayerPlan:
    """One emitted layer module: its ops (topological order) between one input and one output tensor."""

    name: str  # sanitised identifier
    ops: list = field(default_factory=list)
    input: str = ""  # IR tensor read by the layer's s_axis stream
    output: str = ""  # IR tensor written to the layer's m_axis stream
    style: str = "parallel"
    module: str = ""
    levels: int = 1
    adders: int = 0
    ports: object = None


def check_graph(graph: Graph) -> None:
    """Raise RtlError naming the tensor/op/format when ``graph`` cannot be emitted as Verilog."""
    graph.validate()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise RtlError(
            f"graph {graph.name!r}: the Verilog emitter needs exactly one input and one output tensor, "
            f"got {len(graph.inputs)} inputs and {len(graph.outputs)} outputs"
        )
    if not graph.ops:
        raise RtlError(f"graph {graph.name!r}: no ops to implement")
    for op in graph.ops:
        check_supported(op)
    for t in graph.tensors.values():
        if not isinstance(t.fmt, FixedFormat):
            raise RtlError(
                f"tensor {t.name!r}: format {t.fmt} is not fixed-point; the Verilog emitter needs fixed<...>"
            )
    used = {n for op in graph.ops for n in op.inputs} | set(graph.outputs)
    for op in graph.ops:
        if op.output not in used:
            raise RtlError(
                f"op {op.name!r} ({op.kind}): its output {op.output!r} is never read; remove dead ops first "
                "(hwq.ir.passes.remove_dead_ops)"
            )


def plan_layers(graph: Graph) -> list[LayerPlan]:
    """Layers of ``graph`` in stream order (see the module docstring); names are unique identifiers."""
    check_graph(graph)
    readers: dict[str, int] = {}
    for op in graph.ops:
        for n in set(op.inputs):
            readers[n] = readers.get(n, 0) + 1
    live = {graph.inputs[0]}
    layers: list[LayerPlan] = []
    for op in graph.ops:
        at_cut = len(live) == 1
        layout_only = bool(layers) and all(o.kind in ("flatten", "reshape") for o in layers[-1].ops)
        if not layers or (at_cut and op.kind in MATRIX_OPS and not layout_only):
            src = next(iter(live))
            if layers:
                layers[-1].output = src
            layers.append(LayerPlan(op.name, input=src))
        layers[-1].ops.append(op)
        for n in set(op.inputs):
            readers[n] -= 1
            if readers[n] == 0:
                live.discard(n)
        if readers.get(op.output, 0) or op.output in graph.outputs:
            live.add(op.output)
    if live != {graph.outputs[0]}:
        raise RtlError(f"graph {graph.name!r}: output {graph.outputs[0]!r} is not the only result of the ops")
    layers[-1].output = graph.outputs[0]
    ids = unique_identifiers([lay.name for lay in layers], prefix="layer")
    for lay in layers:
        lay.name = ids[lay.name]
    return layers
