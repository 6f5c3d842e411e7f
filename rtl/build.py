"""One layer's datapath from its IR ops.

``build_layer`` walks the layer's ops in topological order, keeping every tensor as a list of datapath
values (one per element, row-major); ops with several inputs (element-wise, concatenation) read the
lists of their operands, so a branching region inside one layer is one netlist. ``describe_layer``
writes the comment block that heads the layer's module.

Which ops the emitter supports and how each is built: one entry per op kind in ``ops.REGISTRY``
(Dense/Conv/AvgPool/GlobalAvgPool ``matrix.build_dense``: shared adder graph, or the IR's ordered chain
``ordered.py`` when the accumulator can saturate or rounds products; MaxPool/ReLU/Clip/Requantize cast
``datapath.py``; Add/Mul/Concat/BatchNorm ``elementwise.py`` (exact arithmetic in ``constmul.py`` and
``varmul.py``); LUT ``lut.py``; dyadic Requantize ``dyadic.py``).
"""

from __future__ import annotations

from hwq.ir.graph import Graph

from .datapath import Datapath, RtlError, Value
from .ops import REGISTRY


def build_layer(
    graph: Graph, lay, in_ranges: list[tuple[int, int]], slots: list[int] | None = None, adders: str = "fewest"
):
    """Datapath of layer ``lay`` (a ``plan.LayerPlan``) whose input elements have raw ranges ``in_ranges``.

    ``slots[i]``: position of input element ``i`` (row-major) on ``s_axis_tdata`` (element slot ``s`` at
    bits ``[s*W +: W]``); default ``slots[i] = i``. ``adders``: adder-graph style
    (``Datapath.ADDER_STYLES``). Returns (datapath, output values, output ranges); output
    values are the elements of ``lay.output`` in row-major order, each at that tensor's frac bits.
    """
    dp = Datapath(adders)
    xt = graph.tensor(lay.input)
    fmt = xt.fmt
    xs = []
    for i in range(xt.size):
        lo, hi = in_ranges[i]
        slot = i if slots is None else slots[i]
        node = dp.input(f"x{i}", slot * fmt.width, fmt, lo, hi, f"input {i} (slot {slot}): {fmt}")
        xs.append(Value(node.name, fmt.frac_bits))
    env: dict[str, list[Value]] = {lay.input: xs}
    for k, op in enumerate(lay.ops):
        env[op.output] = build_op(dp, graph, op, [env[n] for n in op.inputs], k)
    vals = env[lay.output]
    ranges = [(dp.nodes[v.node].lo, dp.nodes[v.node].hi) for v in vals]
    return dp, vals, ranges


def channel_of_element(graph: Graph, tensor: str):
    """Function j -> channel (first axis) of element ``j`` (row-major) of ``tensor``; 1-D: every element."""
    shape = graph.tensor(tensor).shape
    inner = 1
    for s in shape[1:]:
        inner *= s
    return lambda j: j // inner


def build_op(dp: Datapath, graph: Graph, op, args: list[list[Value]], k: int, channel_of=None) -> list[Value]:
    """Values of ``op``'s output tensor from its operands' values (one list per input, row-major).

    ``k`` makes node names unique within the layer. ``channel_of(j)``: channel index of element ``j`` of
    the value lists, for per-channel ops (BatchNorm, dyadic Requantize); default
    ``channel_of_element(graph, op.inputs[0])``. A streamed layer passes ``lambda j: j`` when the lists
    hold one pixel's channels.
    """
    if channel_of is None:
        channel_of = channel_of_element(graph, op.inputs[0])
    entry = REGISTRY.get(op.kind)
    if entry is None:
        raise RtlError(f"op {op.name!r} ({op.kind}): no Verilog builder")  # plan.check_graph ran first
    return entry.impl(dp, graph, op, args, k, channel_of)


def describe_layer(graph: Graph, lay) -> list[str]:
    """Comment lines naming each op of the layer with its shapes and formats."""
    out = []
    for op in lay.ops:
        entry = REGISTRY.entry(op.kind)
        describe = entry.info.get("describe")
        if describe is not None:
            out += describe(op, graph)
            continue
        y = graph.tensor(op.output)
        srcs = ", ".join(f"{n} {graph.tensor(n).fmt}" for n in op.inputs)
        out.append(f"{op.name} ({op.kind}): {srcs} -> {y.fmt}")
        how = entry.info.get("how")
        if callable(how):
            how = how(op)
        if how:
            out.append(f"  {how}")
    return out
