"""The Verilog emitter's op registry: one entry (one named function) per IR op kind.

``REGISTRY`` (a ``hwq.backend.OpRegistry``) maps an op kind to ``build(dp, graph, op, args, k, channel_of)
-> list[Value]``: the values of the op's output tensor (one per element, row-major) from its operands'
values (``args``: one list per input), built on the layer's ``datapath.Datapath``; ``k`` makes node names
unique within the layer and ``channel_of(j)`` gives the channel of element ``j`` (per-channel ops).
``supports(op, graph) -> None | reason`` is the capability query that emit, ``hwq.cost`` and
``hwq.explore`` share (``hwq.rtl.supports``).

Each entry's ``info`` states how the layer planner (``plan.py``) treats the kind:
``matrix`` (a Dense/Conv op starts a layer at a cut point), ``stream_head`` (can start a streamed layer),
``per_pixel`` (a single-input element/channel-wise op that joins a streamed layer), ``layout`` (pure
layout: elements stay in row-major order), ``how`` (the comment line naming how the op is built: a
string or ``how(op)``) or ``describe(op, graph) -> lines`` (the op's whole comment block).

Adding an op kind: one ``@REGISTRY.register("kind", ...)`` function below (plus its arithmetic, if new,
in a lowering module: ``matrix.py``, ``elementwise.py``, ``dyadic.py``, ``lut.py``, or ``Datapath``).
"""

from __future__ import annotations

from hwq.backend import OpRegistry, fixed_tensors, no_input_offset

from . import minifloat as mf
from .datapath import Datapath, RtlError, Value
from .dyadic import build_dyadic
from .elementwise import build_add, build_batchnorm, build_concat, build_mul
from .lut import build_lut
from .matrix import avgpool_as_dense, build_dense, conv_as_dense, dense_spec
from .minifloat import is_float
from .minifloat import relu as float_relu
from .netlist import Node, fit, literal, shifted

REGISTRY = OpRegistry("rtl", error=RtlError, label="the Verilog emitter")


def supports(op, graph) -> str | None:
    """None when the Verilog emitter implements ``op`` of ``graph`` exactly, else the reason (one line)."""
    return REGISTRY.supports(op, graph)


def _shapes(graph, op) -> tuple[tuple, tuple]:
    return graph.tensor(op.inputs[0]).shape, graph.tensor(op.output).shape


# ------------------------------------------------------------------------------------------ matrix ops
def _describe_dense(op, graph) -> list[str]:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.output)
    m, n = op.weight.shape
    return [
        f"{op.name} (dense {n} -> {m}): x {x.fmt}, weights {op.weight_fmt}, bias {op.bias_fmt}, "
        f"accumulator {op.acc_fmt}, result {y.fmt}",
        "  products as CSD shift-and-add terms with shared subexpressions (hwq.rtl.mcm), then an adder tree",
    ]


def _describe_conv(op, graph) -> list[str]:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.output)
    return [
        f"{op.name} ({op.kind} {x.shape} -> {y.shape}, fully parallel): x {x.fmt}, weights {op.weight_fmt}, "
        f"bias {op.bias_fmt}, accumulator {op.acc_fmt}, result {y.fmt}",
        "  every output pixel/channel is a constant dot product over its receptive field (padding: 0), "
        "one shared adder graph",
    ]


def _matrix(dp: Datapath, spec, graph, xs: list[Value], prefix: str) -> list[Value]:
    """``matrix.build_dense``, or with minifloat inputs and ``minifloat.PRODUCTS == "mantissa"`` the
    per-product significand x constant and exponent shift (``minifloat.build_dense_mantissa``)."""
    if mf.PRODUCTS == "mantissa":
        outs = mf.build_dense_mantissa(dp, spec, graph, xs, prefix)
        if outs is not None:
            return outs
    return build_dense(dp, spec, graph, xs, prefix)


@REGISTRY.register("dense", supports=no_input_offset, matrix=True, describe=_describe_dense)
def dense(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Dense: shared CSD adder graph (or the IR's ordered chain), bias, accumulator, output cast."""
    return _matrix(dp, dense_spec(op), graph, args[0], f"d{k}")


@REGISTRY.register("conv1d", supports=no_input_offset, matrix=True, stream_head=True, describe=_describe_conv)
def conv1d(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Conv1d (fully parallel): a constant sparse matrix (``matrix.conv_as_dense``) built like Dense."""
    return _matrix(dp, conv_as_dense(op, *_shapes(graph, op)), graph, args[0], f"d{k}")


@REGISTRY.register("conv2d", supports=no_input_offset, matrix=True, stream_head=True, describe=_describe_conv)
def conv2d(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Conv2d (fully parallel): a constant sparse matrix (``matrix.conv_as_dense``) built like Dense."""
    return _matrix(dp, conv_as_dense(op, *_shapes(graph, op)), graph, args[0], f"d{k}")


# ------------------------------------------------------------------------------------------ pooling
def _recip_mode(op, graph) -> str | None:
    mode = getattr(op, "mode", "recip")
    if mode != "recip":
        return f"mode {mode!r} is not supported by the Verilog emitter (supported: 'recip')"
    return None


def _describe_maxpool(op, graph) -> list[str]:
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.output)
    return [
        f"{op.name} (maxpool kernel {tuple(op.kernel)}, stride {tuple(op.stride)}, padding "
        f"{tuple(op.padding)}): {x.fmt} -> {y.fmt}, comparator tree per window"
    ]


@REGISTRY.register("maxpool", stream_head=True, describe=_describe_maxpool)
def maxpool(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """MaxPool: a comparator tree per window, then the output cast."""
    return dp.maxpool(op, graph, args[0], f"p{k}")


@REGISTRY.register(
    "avgpool",
    supports=_recip_mode,
    stream_head=True,
    how="window sums, then acc * recip (CSD constant product) * 2**-recip_frac_bits, one cast",
)
def avgpool(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """AvgPool: window sums (0/1 matrix) times the reciprocal constant, then the output cast."""
    return build_dense(dp, avgpool_as_dense(op, *_shapes(graph, op)), graph, args[0], f"a{k}")


@REGISTRY.register(
    "global_avgpool",
    supports=_recip_mode,
    how="channel sums, then acc * recip (CSD constant product) * 2**-recip_frac_bits, one cast",
)
def global_avgpool(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """GlobalAvgPool: channel sums times the reciprocal constant, then the output cast."""
    return build_dense(dp, avgpool_as_dense(op, *_shapes(graph, op)), graph, args[0], f"a{k}")


# ------------------------------------------------------------------------------------------ layout
@REGISTRY.register("flatten", layout=True)
def flatten(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Flatten: pure layout, elements stay in row-major order (no logic)."""
    return args[0]


@REGISTRY.register("reshape", layout=True)
def reshape(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Reshape: pure layout, elements stay in row-major order (no logic)."""
    return args[0]


# ------------------------------------------------------------------------------------------ element-wise
@REGISTRY.register("relu", per_pixel=True)
def relu(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """ReLU: sign test and select, then the output cast (a minifloat into its own format: a select on the raw
    and on the code, no rounding, ``minifloat.relu``)."""
    out_fmt = graph.tensor(op.output).fmt
    if is_float(out_fmt) and graph.tensor(op.inputs[0]).fmt == out_fmt:
        return [
            float_relu(dp, f"r{k}_{j}", v, out_fmt, f"{op.name} (relu) element {j} -> {out_fmt}")
            for j, v in enumerate(args[0])
        ]
    return [
        dp.relu(f"r{k}_{j}", v, out_fmt, f"{op.name} (relu) element {j} -> {out_fmt}") for j, v in enumerate(args[0])
    ]


@REGISTRY.register(
    "leaky_relu",
    supports=fixed_tensors,
    per_pixel=True,
    how=lambda op: (
        f"x > 0 ? x : x * 2**-{op.shift} (the same raw bits, {op.shift} more fractional bits; "
        "a multiplexer, no adder), then one cast"
    ),
)
def leaky_relu(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """LeakyReLU (slope 2**-shift): select x << shift or x at ``shift`` more fractional bits, then the cast."""
    out_fmt = graph.tensor(op.output).fmt
    s = int(op.shift)
    out = []
    for j, v in enumerate(args[0]):
        src = dp.nodes[v.node]
        what = f"{op.name} (leaky_relu) element {j} -> {out_fmt}"
        if src.lo >= 0:  # never negative: y = cast(x)
            out.append(dp.cast(f"k{k}_{j}", v, out_fmt, what))
            continue
        node = Node(f"k{k}_{j}_sel", src.lo, max(src.hi << s, 0), src.level, [v.node], [], what + ": select")
        pos = shifted("{0}", src.width, s, node.width) or literal(0, node.width)  # x << s (raw at F + s)
        node.body = [f"assign {{out}} = {{0}}[{src.width - 1}] ? {fit('{0}', src.width, node.width)} : {pos};"]
        dp.add(node)
        out.append(dp.cast(f"k{k}_{j}", Value(node.name, v.frac_bits + s), out_fmt, what))
    return out


@REGISTRY.register("clip", per_pixel=True)
def clip(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Clip: clamp to [lo, hi], then the output cast."""
    out_fmt = graph.tensor(op.output).fmt
    return [
        dp.clip(f"c{k}_{j}", v, op.lo, op.hi, out_fmt, f"{op.name} (clip) element {j} -> {out_fmt}")
        for j, v in enumerate(args[0])
    ]


def _requantize_supports(op, graph) -> str | None:
    mode = getattr(op, "mode", "cast")
    if mode not in ("cast", "dyadic"):
        return f"mode {mode!r} is not supported by the Verilog emitter (supported: 'cast', 'dyadic')"
    return None


def _requantize_how(op) -> str:
    if op.mode == "dyadic":
        rounding = "single rounding" if op.single_rounding else "default double-rounding build"
        return (
            "CMSIS-NN dyadic requantisation: Q31 multiplier as CSD shift-and-add, wrap32 / rounding / clamp "
            f"({rounding})"
        )
    return "ap_fixed cast: rounding then overflow"


@REGISTRY.register("requantize", supports=_requantize_supports, per_pixel=True, how=_requantize_how)
def requantize(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Requantize: ``cast`` is the ap_fixed cast; ``dyadic`` is CMSIS-NN's integer requantisation."""
    if op.mode == "dyadic":
        return build_dyadic(dp, graph, op, args, k, channel_of)
    out_fmt = graph.tensor(op.output).fmt
    return [
        dp.cast(f"q{k}_{j}", v, out_fmt, f"{op.name} (requantize) element {j} -> {out_fmt}")
        for j, v in enumerate(args[0])
    ]


@REGISTRY.register(
    "batchnorm",
    per_pixel=True,
    how=lambda op: (
        f"x * scale[c] as CSD shift-and-add + bias[c], exact, then one cast (scale {op.scale_fmt}, bias {op.bias_fmt})"
    ),
)
def batchnorm(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """BatchNorm: per-channel constant product and bias, exact, then the output cast."""
    return build_batchnorm(dp, graph, op, args, k, channel_of)


@REGISTRY.register("add", how="exact sum of the operands aligned to the finer LSB, then one cast")
def add(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Add: exact sum of the operands, then the output cast."""
    return build_add(dp, graph, op, args, k)


@REGISTRY.register(
    "mul",
    how="exact product: AND-gated partial products of the narrower operand's bits, sign bit subtracted, "
    "adder tree (no * operator), then one cast",
)
def mul(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Mul: exact product without a * operator, then the output cast."""
    return build_mul(dp, graph, op, args, k)


@REGISTRY.register(
    "concat",
    how=lambda op: f"each input element cast to the output format, placed in row-major order along axis {op.axis}",
)
def concat(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """Concat: each input element cast to the output format, in row-major order."""
    return build_concat(dp, graph, op, args, k)


@REGISTRY.register(
    "lut",
    supports=fixed_tensors,  # a minifloat LUT (table over codes) is not built yet
    per_pixel=True,
    how="ROM: a case function over the input bit pattern (reachable patterns), one call per element",
)
def lut(dp: Datapath, graph, op, args, k: int, channel_of) -> list[Value]:
    """LUT: a ROM case function over the input's bit pattern."""
    return build_lut(dp, graph, op, args, k)


__all__ = ["REGISTRY", "supports"]
