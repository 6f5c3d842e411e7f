"""ReLU: ``y[i] = x[i] > 0 ? (out_t)x[i] : (out_t)0`` (``hwq/ir/ops/relu.py``) and LeakyReLU with a
power-of-two slope (``hwq/ir/ops/leaky_relu.py``), any shape, flat."""

from __future__ import annotations

from hwq.backend import fixed_tensors
from hwq.formats import FixedFormat

from ..cpp import fixed_type
from .base import REGISTRY, LayerCode, LayerContext


@REGISTRY.register("relu")
def relu(op, ctx: LayerContext) -> LayerCode:
    """Print a ReLU op."""
    x, y = ctx.tensor(), ctx.out
    zero = f"{ctx.out_type}::from_bits(0)" if y.fmt.kind == "float" else f"({ctx.out_type})0"
    body = (
        f"    for (int i = 0; i < {x.size}; i++) {{\n"
        f"        y[i] = {ctx.val('x[i]', x.fmt)} > 0 ? {ctx.cast(ctx.val('x[i]', x.fmt), x.fmt, ctx.out_type, y.fmt)}"
        f" : {zero};\n"
        f"    }}\n"
    )
    doc = [f"relu {op.name!r}: {x.name!r} {x.fmt} -> {y.name!r} {y.fmt}, shape {x.shape}", "y = x > 0 ? x : 0"]
    return LayerCode(body=body, doc=doc)


@REGISTRY.register("leaky_relu", supports=fixed_tensors)
def leaky_relu(op, ctx: LayerContext) -> LayerCode:
    """Print a LeakyReLU (slope 2**-shift): the negative branch re-reads x's raw bits with ``shift`` more
    fractional bits (exact, no multiplier), then one cast to out_t."""
    x, y = ctx.tensor(), ctx.out
    s = int(op.shift)
    neg = FixedFormat(x.fmt.width, x.fmt.int_bits - s, x.fmt.signed)  # x * 2**-s, same raw bits
    neg_t = f"{ctx.fn}_neg_t"
    pos = ctx.cast("x[i]", x.fmt, ctx.out_type, y.fmt)
    scaled = ctx.cast(f"hwq_from_raw<{neg_t}>(hwq_raw(x[i]))", neg, ctx.out_type, y.fmt)
    body = f"    for (int i = 0; i < {x.size}; i++) {{\n        y[i] = x[i] > 0 ? {pos} : {scaled};\n    }}\n"
    doc = [
        f"leaky_relu {op.name!r}: {x.name!r} {x.fmt} -> {y.name!r} {y.fmt}, shape {x.shape}",
        f"y = x > 0 ? x : x * 2^-{s} (x's raw bits read as {neg}), one cast",
    ]
    return LayerCode(body, doc, typedefs=[(neg_t, fixed_type(neg), f"x * 2^-{s}, exact")])
