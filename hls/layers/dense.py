"""Dense: hls4ml's multiply-accumulate order, printed with ap_fixed types (``hwq/ir/ops/dense.py``).

    acc = (accum_t)bias[j];  for i: acc += (accum_t)(x[i] * w[j][i]);  y[j] = (out_t)acc;

The product ``x[i] * w[j][i]`` is ap_fixed's full-precision product; each cast applies the target
type's rounding and overflow modes, exactly the interpreter's casts. ``+=`` of two accum_t values is
exact before accum_t's overflow mode, as in the interpreter.
"""

from __future__ import annotations

from hwq.backend import no_input_offset

from ..cpp import dims
from .base import REGISTRY, LayerCode, LayerContext
from .csd import emit_dense as emit_csd_dense
from .mac import product_expr


@REGISTRY.register("dense", supports=no_input_offset)
def dense(op, ctx: LayerContext) -> LayerCode:
    """Print a Dense op (see the module docstring)."""
    if getattr(op.weight_fmt, "kind", None) == "csd":
        return emit_csd_dense(op, ctx)
    fn = ctx.fn
    m, n = op.weight.shape
    x = ctx.tensor()
    w_t, b_t, acc_t = f"{fn}_weight_t", f"{fn}_bias_t", f"{fn}_accum_t"
    prod = product_expr(ctx, "x[i]", f"{fn}_w[j][i]", x.fmt, op.weight_fmt, "weight", acc_t, op.acc_fmt)
    typedefs = [
        (w_t, ctx.param_type(op.weight_fmt, "weight"), f"weight format {op.weight_fmt} (stored exactly)"),
        (b_t, ctx.param_type(op.bias_fmt, "bias"), f"bias format {op.bias_fmt} (stored exactly)"),
        (acc_t, ctx.ctype(op.acc_fmt, "accumulator"), f"accumulator format {op.acc_fmt}"),
    ] + prod.typedefs
    params = (
        f"// weight of dense {op.name!r}: {m} outputs x {n} inputs, format {op.weight_fmt} (exact values)\n"
        f"static const {w_t} {fn}_w{dims((m, n))} = {ctx.param_init(op.weight, op.weight_fmt)};\n\n"
        f"// bias of dense {op.name!r}: format {op.bias_fmt} (exact values)\n"
        f"static const {b_t} {fn}_b{dims((m,))} = {ctx.param_init(op.bias, op.bias_fmt)};\n"
    )
    body = (
        f"    for (int j = 0; j < {m}; j++) {{\n"
        f"        {acc_t} acc = {ctx.cast(f'{fn}_b[j]', op.bias_fmt, acc_t, op.acc_fmt)};\n"
        f"        for (int i = 0; i < {n}; i++) {{\n"
        f"            acc += {prod.expr};\n"
        f"        }}\n"
        f"        y[j] = {ctx.cast('acc', op.acc_fmt, ctx.out_type, ctx.out.fmt)};\n"
        f"    }}\n"
    )
    doc = [
        f"dense {op.name!r}: {x.name!r} {x.fmt} ({n},) -> {ctx.out.name!r} {ctx.out.fmt} ({m},)",
        f"weight {op.weight_fmt}, bias {op.bias_fmt}, accumulator {op.acc_fmt}",
        "acc = bias[j]; acc += (accum_t)(x[i] * w[j][i]) for i = 0..N-1 in order; y[j] = (out_t)acc",
    ] + prod.doc
    return LayerCode(
        body=body,
        doc=doc,
        typedefs=typedefs,
        params=params,
        param_arrays=[f"{fn}_w", f"{fn}_b"],
        n_mult=prod.n_mult_per_term * m * n,
        includes=prod.includes,
    )
