"""Cut an IR graph into Verilog layer modules, each with one input and one output stream.

The graph must have one input and one output tensor, fixed-point formats everywhere and only ops the
emitter supports (``ops.REGISTRY``). Ops are walked in topological order while tracking the
*live* tensors (produced, still to be read). A new layer may start only where exactly one tensor is live
(a cut point), and it does start at every Dense/Conv1d/Conv2d op at a cut point, unless the current layer
holds only layout ops (Flatten/Reshape). Element-wise, pooling and activation ops join the layer before
them, and a branching region (a residual Add, a Concat of two paths) stays inside one layer, where its
datapath is one netlist. Each layer's ``style`` says how its module is built: ``"parallel"`` (the whole
input tensor is one stream beat; every op is unrolled) or ``"stream"``.

Stream mode (``io="stream"``, the emitter's default): a (C, H, W) tensor (Conv1d/pooling over (C, L): H = 1)
travels as H*W beats per frame, row-major over (y, x), one beat holding the C channel raws of one pixel.
A layer that starts with a Conv1d/Conv2d op, or with a MaxPool/AvgPool (not global) whose input is the
graph input or the output of a streamed layer, gets style ``"stream"`` when every later op of the layer is a
single-input per-pixel op (``PER_PIXEL_OPS``: ReLU, Clip, Requantize, ...); such a layer is a line
buffer (``hwq_window``) feeding one datapath per output pixel (``rtl/stream.py``). In stream mode a local
pooling op starts its own layer (it needs its own window), and an op that cannot run per pixel (Flatten,
Reshape, GlobalAvgPool, Dense, Add, ...) after a streamed layer starts a new parallel layer where one tensor
is live. A layer holding anything else (e.g. a residual Add not at a cut point) stays ``"parallel"``.
With ``branches=True`` (what ``emit`` uses) a branching region of pixel streams streams too: one layer per
conv/pool and per join (``"pixel"`` style), wired by forks and FIFOs in the top (``rtl/branch.py``).
``io="parallel"`` plans exactly as before stream mode existed.
"""

from __future__ import annotations

from hwq.formats import FixedFormat
from hwq.io import unique_identifiers
from hwq.ir.graph import Graph

from .datapath import RtlError
from .layerplan import LAYOUT_OPS, MATRIX_OPS, PER_PIXEL_OPS, STREAM_HEADS, LayerPlan
from .minifloat import check_format as check_float
from .minifloat import is_float
from .ops import REGISTRY

IO_MODES = ("stream", "parallel")


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
    REGISTRY.check_graph(graph)
    for t in graph.tensors.values():
        if is_float(t.fmt):  # minifloat tensors: codes on the streams, raws inside (rtl/minifloat.py)
            reason = check_float(t.fmt)
            if reason is not None:
                raise RtlError(f"tensor {t.name!r}: {reason}")
        elif not isinstance(t.fmt, FixedFormat):
            raise RtlError(
                f"tensor {t.name!r}: format {t.fmt} is neither fixed-point nor a minifloat; the Verilog emitter "
                "needs fixed<...> or float<E,M,...>"
            )
    used = {n for op in graph.ops for n in op.inputs} | set(graph.outputs)
    for op in graph.ops:
        if op.output not in used:
            raise RtlError(
                f"op {op.name!r} ({op.kind}): its output {op.output!r} is never read; remove dead ops first "
                "(hwq.ir.passes.remove_dead_ops)"
            )


def _streamable_shape(graph: Graph, tensor: str) -> bool:
    """True when ``tensor`` is (C, L) or (C, H, W): it can travel as one pixel per beat."""
    return len(graph.tensor(tensor).shape) in (2, 3)


def per_pixel(op) -> bool:
    """True when ``op`` is a single-input op that a streamed layer applies to each pixel's channels."""
    return op.kind in PER_PIXEL_OPS and len(op.inputs) == 1


def _stream_style(graph: Graph, lay: LayerPlan) -> str:
    """``"stream"`` when the layer is a stream head followed by per-pixel ops only (a simple chain)."""
    head = lay.ops[0]
    if head.kind not in STREAM_HEADS or not _streamable_shape(graph, head.inputs[0]):
        return "parallel"
    prev = head.output
    for op in lay.ops[1:]:
        if not per_pixel(op) or op.inputs[0] != prev:
            return "parallel"
        prev = op.output
    return "stream"


def plan_layers(graph: Graph, io: str = "parallel", branches: bool = False) -> list[LayerPlan]:
    """Layers of ``graph`` in stream order (see the module docstring); names are unique identifiers.

    ``io``: ``"parallel"`` (every layer parallel) or ``"stream"`` (convolution/pooling layers streamed).
    ``branches`` (stream mode): a branching region of pixel streams (residual Add, Concat, Mul) streams too
    (``rtl/branch.py``: one layer per conv/pool and per join, style ``"pixel"`` for the joins); the layers are
    then a DAG in topological order, each with its ``inputs``. Off: such a region stays in one parallel layer.
    """
    if io not in IO_MODES:
        raise RtlError(f"rtl emitter: io must be one of {', '.join(IO_MODES)}, got {io!r}")
    check_graph(graph)
    ops, src, head = graph.ops, graph.inputs[0], []
    if io == "stream" and branches:
        from .branch import plan_branches

        split = plan_branches(graph)
        if split is not None:
            head, ops, src = split
    readers: dict[str, int] = {}
    for op in ops:
        for n in set(op.inputs):
            readers[n] = readers.get(n, 0) + 1
    live = {src}
    layers: list[LayerPlan] = []
    for op in ops:
        at_cut = len(live) == 1
        layout_only = bool(layers) and all(o.kind in LAYOUT_OPS for o in layers[-1].ops)
        cut = at_cut and op.kind in MATRIX_OPS and not layout_only
        if io == "stream" and layers and at_cut and not cut:
            cur = layers[-1]
            cur_streams = _stream_style(graph, cur) == "stream"
            if op.kind in STREAM_HEADS and op.kind in MATRIX_OPS:
                cut = True  # even after layout ops: a conv always gets its own streamed layer
            elif op.kind in STREAM_HEADS and (cur_streams or op.inputs[0] == graph.inputs[0]):
                cut = True  # a local pool needs its own window
            elif cur_streams and not (per_pixel(op) and op.inputs[0] == cur.ops[-1].output):
                cut = True  # the streamed layer ends: this op cannot run per pixel
        if not layers or cut:
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
    if layers:
        layers[-1].output = graph.outputs[0]
    if io == "stream":
        for lay in layers:
            lay.style = _stream_style(graph, lay)
    layers = head + layers
    ids = unique_identifiers([lay.name for lay in layers], prefix="layer")
    for lay in layers:
        lay.name = ids[lay.name]
        lay.inputs = lay.inputs or [lay.input]
    return layers
