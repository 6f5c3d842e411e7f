"""ReLU: ``y[i] = x[i] > 0 ? (out_t)x[i] : (out_t)0`` (``hwq/ir/ops/relu.py``), any shape, flat."""

from __future__ import annotations

from .base import LayerCode, LayerContext

KINDS = ("relu",)


def emit(op, ctx: LayerContext) -> LayerCode:
    """Print a ReLU op."""
    x, y = ctx.tensor(), ctx.out
    body = (
        f"    for (int i = 0; i < {x.size}; i++) {{\n"
        f"        y[i] = x[i] > 0 ? {ctx.cast('x[i]', x.fmt, ctx.out_type, y.fmt)} : ({ctx.out_type})0;\n"
        f"    }}\n"
    )
    doc = [f"relu {op.name!r}: {x.name!r} {x.fmt} -> {y.name!r} {y.fmt}, shape {x.shape}", "y = x > 0 ? x : 0"]
    return LayerCode(body=body, doc=doc)
