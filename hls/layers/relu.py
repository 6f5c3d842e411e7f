"""ReLU: ``y[i] = x[i] > 0 ? (out_t)x[i] : (out_t)0`` (``hwq/ir/ops/relu.py``), any shape, flat."""

from __future__ import annotations

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
