"""Element-wise ops over flat arrays: Add, Multiply (``hwq/ir/ops/add.py``, ``mul.py``), Flatten and
Reshape (pure layout: a copy, which synthesis turns into wires), Clip (``clip.py``) and BatchNorm
(``batchnorm.py``).

ap_fixed's ``+`` and ``*`` of two values are exact (full-precision result types), so each op is one
expression followed by one cast to the output type, as in the interpreter.
"""

from __future__ import annotations

from ..cpp import dims, fixed_literal, mult_fmt, plus_fmt
from .base import REGISTRY, LayerCode, LayerContext


def _loop(n: int, stmt: str) -> str:
    return f"    for (int i = 0; i < {n}; i++) {{\n        {stmt}\n    }}\n"


def _doc(op, ctx: LayerContext) -> list[str]:
    y = ctx.out
    head = f"{op.kind} {op.name!r}: " + ", ".join(f"{t!r} {ctx.graph.tensor(t).fmt}" for t in op.inputs)
    return [f"{head} -> {op.output!r} {y.fmt}, shape {y.shape}"]


@REGISTRY.register("add")
def add(op, ctx: LayerContext) -> LayerCode:
    """Print an Add op: y = (out_t)(a + b), exact until the cast."""
    return _binary(op, ctx, "+")


@REGISTRY.register("mul")
def mul(op, ctx: LayerContext) -> LayerCode:
    """Print a Mul op: y = (out_t)(a * b), exact until the cast."""
    return _binary(op, ctx, "*")


def _binary(op, ctx: LayerContext, sym: str) -> LayerCode:
    y = ctx.out
    a, b = (ctx.graph.tensor(t).fmt for t in op.inputs)
    ea, eb = ctx.exact(a), ctx.exact(b)
    fmt = plus_fmt(ea, eb) if sym == "+" else mult_fmt(ea, eb)
    expr = f"{ctx.val('x0[i]', a)} {sym} {ctx.val('x1[i]', b)}"
    stmt = f"y[i] = {ctx.cast(expr, fmt, ctx.out_type, y.fmt)};"
    return LayerCode(_loop(y.size, stmt), _doc(op, ctx) + [f"y = (out_t)(a {sym} b), exact until the cast"])


@REGISTRY.register("flatten")
def flatten(op, ctx: LayerContext) -> LayerCode:
    """Print a Flatten op: a copy (layout only)."""
    return _layout(op, ctx)


@REGISTRY.register("reshape")
def reshape(op, ctx: LayerContext) -> LayerCode:
    """Print a Reshape op: a copy (layout only)."""
    return _layout(op, ctx)


def _layout(op, ctx: LayerContext) -> LayerCode:
    return LayerCode(
        _loop(ctx.out.size, "y[i] = x[i];"), _doc(op, ctx) + ["layout only: same format, same C-order elements"]
    )


@REGISTRY.register("clip")
def clip(op, ctx: LayerContext) -> LayerCode:
    """Print a Clip op: y = (out_t)min(max(x, lo), hi)."""
    return _clip(op, ctx, _doc(op, ctx))


@REGISTRY.register("batchnorm")
def batchnorm(op, ctx: LayerContext) -> LayerCode:
    """Print a BatchNorm op: y = (out_t)(x * scale[c] + bias[c])."""
    return _batchnorm(op, ctx, _doc(op, ctx))


def _clip(op, ctx: LayerContext, doc: list[str]) -> LayerCode:
    x = ctx.tensor()
    xf = x.fmt
    ctx.require_fixed(f"input {x.name!r}", xf)
    in_t = ctx.in_type()
    lines = [f"    for (int i = 0; i < {x.size}; i++) {{", f"        {in_t} v = x[i];"]
    # A bound outside the input format's range can never bind (the interpreter skips it too).
    if op.lo is not None and int(op.lo) > xf.raw_min:
        lo = fixed_literal_t(in_t, op.lo, xf)
        lines.append(f"        if (v < {lo}) v = {lo};")
    if op.hi is not None and int(op.hi) < xf.raw_max:
        hi = fixed_literal_t(in_t, op.hi, xf)
        lines.append(f"        if (v > {hi}) v = {hi};")
    lines += [f"        y[i] = {ctx.cast('v', xf, ctx.out_type, ctx.out.fmt)};", "    }"]
    doc = doc + [f"y = (out_t)min(max(x, lo), hi) with raw bounds lo={op.lo}, hi={op.hi} in {xf}"]
    return LayerCode("\n".join(lines) + "\n", doc)


def fixed_literal_t(ctype: str, raw: int, fmt) -> str:
    """``(T)literal``: an exact typed constant of a raw value in ``fmt``."""
    return f"({ctype}){fixed_literal(int(raw), fmt.frac_bits)}"


def _batchnorm(op, ctx: LayerContext, doc: list[str]) -> LayerCode:
    fn = ctx.fn
    x = ctx.tensor()
    c = x.shape[0]
    inner = x.size // c
    s_t, b_t = f"{fn}_weight_t", f"{fn}_bias_t"
    params = (
        f"// scale of batchnorm {op.name!r}: one per channel, format {op.scale_fmt}\n"
        f"static const {s_t} {fn}_w{dims((c,))} = {ctx.param_init(op.scale, op.scale_fmt)};\n\n"
        f"// bias of batchnorm {op.name!r}: one per channel, format {op.bias_fmt}\n"
        f"static const {b_t} {fn}_b{dims((c,))} = {ctx.param_init(op.bias, op.bias_fmt)};\n"
    )
    src = plus_fmt(mult_fmt(ctx.exact(x.fmt), ctx.exact(op.scale_fmt)), ctx.exact(op.bias_fmt))
    idx = "c" if inner == 1 else f"c * {inner} + k"
    expr = (
        f"{ctx.val(f'x[{idx}]', x.fmt)} * {ctx.val(f'{fn}_w[c]', op.scale_fmt)} + {ctx.val(f'{fn}_b[c]', op.bias_fmt)}"
    )
    stmt = f"y[{idx}] = {ctx.cast(expr, src, ctx.out_type, ctx.out.fmt)};"
    if inner == 1:
        body = f"    for (int c = 0; c < {c}; c++) {{\n        {stmt}\n    }}\n"
    else:
        body = (
            f"    for (int c = 0; c < {c}; c++) {{\n        for (int k = 0; k < {inner}; k++) {{\n"
            f"            {stmt}\n        }}\n    }}\n"
        )
    return LayerCode(
        body,
        doc + [f"scale {op.scale_fmt}, bias {op.bias_fmt}; y = (out_t)(x * scale[c] + bias[c]), exact until the cast"],
        typedefs=[
            (s_t, ctx.param_type(op.scale_fmt, "scale"), f"scale format {op.scale_fmt} (stored exactly)"),
            (b_t, ctx.param_type(op.bias_fmt, "bias"), f"bias format {op.bias_fmt} (stored exactly)"),
        ],
        params=params,
        param_arrays=[f"{fn}_w", f"{fn}_b"],
        n_mult=x.size,
    )
