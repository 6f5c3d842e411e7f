"""One layer's datapath from its IR ops: which ops the Verilog emitter supports and how each is built.

``build_layer`` walks the layer's ops in topological order, keeping every tensor as a list of datapath
values (one per element, row-major); ops with several inputs (element-wise, concatenation) read the
lists of their operands, so a branching region inside one layer is one netlist. ``describe_layer``
writes the comment block that heads the layer's module.

Where each op is built: Dense/Conv/AvgPool/GlobalAvgPool ``datapath.Datapath.dense`` (shared adder graph, or
the IR's ordered chain ``ordered.py`` when the accumulator can saturate or rounds products), MaxPool/ReLU/
Clip/Requantize cast ``datapath.py``, Add/Mul/Concat/BatchNorm ``elementwise.py`` (exact arithmetic in
``constmul.py`` and ``varmul.py``), LUT ``lut.py``, dyadic Requantize ``dyadic.py``.
"""

from __future__ import annotations

from hwq.ir.graph import Graph

from .datapath import Datapath, RtlError, Value, avgpool_as_dense, conv_as_dense
from .dyadic import build_dyadic
from .elementwise import build_add, build_batchnorm, build_concat, build_mul
from .lut import build_lut

SUPPORTED_OPS = (
    "dense",
    "conv1d",
    "conv2d",
    "maxpool",
    "avgpool",
    "global_avgpool",
    "relu",
    "clip",
    "requantize",
    "flatten",
    "reshape",
    "batchnorm",
    "add",
    "mul",
    "concat",
    "lut",
)
MATRIX_OPS = ("dense", "conv1d", "conv2d")  # each starts a layer (at a cut point)


def check_supported(op) -> None:
    """Raise RtlError naming ``op`` when the Verilog emitter cannot implement its kind or mode."""
    if op.kind == "requantize" and getattr(op, "mode", "cast") not in ("cast", "dyadic"):
        raise RtlError(
            f"op {op.name!r} (requantize): mode {op.mode!r} is not supported by the Verilog emitter "
            "(supported: 'cast', 'dyadic')"
        )
    if op.kind not in SUPPORTED_OPS:
        raise RtlError(
            f"op {op.name!r} ({op.kind}): not supported by the Verilog emitter yet "
            f"(supported: {', '.join(SUPPORTED_OPS)})"
        )


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
    out_fmt = graph.tensor(op.output).fmt
    vals = args[0]
    if op.kind == "dense":
        return dp.dense(op, graph, vals, f"d{k}")
    if op.kind in ("conv1d", "conv2d"):
        return dp.dense(conv_as_dense(op, graph), graph, vals, f"d{k}")
    if op.kind == "maxpool":
        return dp.maxpool(op, graph, vals, f"p{k}")
    if op.kind in ("avgpool", "global_avgpool"):
        return dp.dense(avgpool_as_dense(op, graph), graph, vals, f"a{k}")
    if op.kind in ("flatten", "reshape"):
        return vals  # pure layout: elements stay in row-major order
    if op.kind == "clip":
        return [
            dp.clip(f"c{k}_{j}", v, op.lo, op.hi, out_fmt, f"{op.name} (clip) element {j} -> {out_fmt}")
            for j, v in enumerate(vals)
        ]
    if op.kind == "requantize" and op.mode == "dyadic":
        return build_dyadic(dp, graph, op, args, k, channel_of)
    if op.kind == "requantize":
        return [
            dp.cast(f"q{k}_{j}", v, out_fmt, f"{op.name} (requantize) element {j} -> {out_fmt}")
            for j, v in enumerate(vals)
        ]
    if op.kind == "relu":
        return [
            dp.relu(f"r{k}_{j}", v, out_fmt, f"{op.name} (relu) element {j} -> {out_fmt}") for j, v in enumerate(vals)
        ]
    if op.kind == "batchnorm":
        return build_batchnorm(dp, graph, op, args, k, channel_of)
    if op.kind == "add":
        return build_add(dp, graph, op, args, k)
    if op.kind == "mul":
        return build_mul(dp, graph, op, args, k)
    if op.kind == "concat":
        return build_concat(dp, graph, op, args, k)
    if op.kind == "lut":
        return build_lut(dp, graph, op, args, k)
    raise RtlError(f"op {op.name!r} ({op.kind}): no Verilog builder")  # check_supported ran first


def describe_layer(graph: Graph, lay) -> list[str]:
    """Comment lines naming each op of the layer with its shapes and formats."""
    out = []
    for op in lay.ops:
        x, y = graph.tensor(op.inputs[0]), graph.tensor(op.output)
        if op.kind == "dense":
            m, n = op.weight.shape
            out.append(
                f"{op.name} (dense {n} -> {m}): x {x.fmt}, weights {op.weight_fmt}, bias {op.bias_fmt}, "
                f"accumulator {op.acc_fmt}, result {y.fmt}"
            )
            out.append(
                "  products as CSD shift-and-add terms with shared subexpressions (hwq.rtl.mcm), then an adder tree"
            )
        elif op.kind in ("conv1d", "conv2d"):
            out.append(
                f"{op.name} ({op.kind} {x.shape} -> {y.shape}, fully parallel): x {x.fmt}, weights {op.weight_fmt}, "
                f"bias {op.bias_fmt}, accumulator {op.acc_fmt}, result {y.fmt}"
            )
            out.append(
                "  every output pixel/channel is a constant dot product over its receptive field (padding: 0), "
                "one shared adder graph"
            )
        elif op.kind == "maxpool":
            out.append(
                f"{op.name} (maxpool kernel {tuple(op.kernel)}, stride {tuple(op.stride)}, padding "
                f"{tuple(op.padding)}): {x.fmt} -> {y.fmt}, comparator tree per window"
            )
        else:
            srcs = ", ".join(f"{n} {graph.tensor(n).fmt}" for n in op.inputs)
            out.append(f"{op.name} ({op.kind}): {srcs} -> {y.fmt}")
            how = _HOW.get(op.kind)
            if op.kind == "requantize":
                how = _HOW["dyadic" if op.mode == "dyadic" else "cast"]
                if op.mode == "dyadic":
                    how += f" ({'single rounding' if op.single_rounding else 'default double-rounding build'})"
            elif op.kind == "batchnorm":
                how += f" (scale {op.scale_fmt}, bias {op.bias_fmt})"
            elif op.kind == "concat":
                how += f" along axis {op.axis}"
            if how:
                out.append(f"  {how}")
    return out


_HOW = {
    "add": "exact sum of the operands aligned to the finer LSB, then one cast",
    "mul": "exact product: AND-gated partial products of the narrower operand's bits, sign bit subtracted, "
    "adder tree (no * operator), then one cast",
    "batchnorm": "x * scale[c] as CSD shift-and-add + bias[c], exact, then one cast",
    "concat": "each input element cast to the output format, placed in row-major order",
    "lut": "ROM: a case function over the input bit pattern (reachable patterns), one call per element",
    "dyadic": "CMSIS-NN dyadic requantisation: Q31 multiplier as CSD shift-and-add, wrap32 / rounding / clamp",
    "cast": "ap_fixed cast: rounding then overflow",
    "avgpool": "window sums, then acc * recip (CSD constant product) * 2**-recip_frac_bits, one cast",
    "global_avgpool": "channel sums, then acc * recip (CSD constant product) * 2**-recip_frac_bits, one cast",
}
