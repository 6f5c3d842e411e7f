"""Concat (``hwq/ir/ops/concat.py``), LUT (``lut.py``) and Requantize (``requantize.py``).

Concat: each input element cast to the output type, placed along ``axis`` (flat C-order arrays).
LUT: ``y = table[bits(x)]``, the table holding exact output values indexed by x's W-bit pattern.
Requantize ``cast``: ``y = (out_t)x``. Requantize ``dyadic``: CMSIS-NN's integer requantisation on the
raw integers (``hwq_requantize`` in hwq_hls.h, written from the same documented arithmetic), then
``+ out_offset`` and the clamp to [act_min, act_max]; the result is the output raw.
"""

from __future__ import annotations

from ..cpp import array_initialiser, dims
from .base import REGISTRY, LayerCode, LayerContext


def _requantize_modes(op, graph) -> str | None:
    mode = getattr(op, "mode", "cast")
    if mode not in ("cast", "dyadic"):
        return f"mode {mode!r} is not supported by the HLS emitter (supported: 'cast', 'dyadic')"
    return None


@REGISTRY.register("concat")
def concat(op, ctx: LayerContext) -> LayerCode:
    """Print a Concat op: each input cast to the output type, placed along ``axis``."""
    y = ctx.out
    a = int(op.axis)
    outer = 1
    for s in y.shape[:a]:
        outer *= s
    inner = 1
    for s in y.shape[a + 1 :]:
        inner *= s
    lines, off = [], 0
    for k, name in enumerate(op.inputs):
        t = ctx.graph.tensor(name)
        chunk = t.shape[a] * inner
        src = ctx.val(f"x{k}[o * {chunk} + t]" if outer > 1 else f"x{k}[t]", t.fmt)
        dst = f"y[o * {y.shape[a] * inner} + {off * inner} + t]" if outer > 1 else f"y[{off * inner} + t]"
        stmt = f"{dst} = {ctx.cast(src, t.fmt, ctx.out_type, y.fmt)};"
        lines.append(f"// input {k}: {name!r} {t.fmt} {t.shape}")
        lines.append(f"for (int t = 0; t < {chunk}; t++) {{")
        lines.append(f"    {stmt}")
        lines.append("}")
        off += t.shape[a]
    if outer > 1:
        lines = [f"for (int o = 0; o < {outer}; o++) {{"] + ["    " + ln for ln in lines] + ["}"]
    doc = [f"concat {op.name!r} along axis {a}: -> {y.name!r} {y.fmt} {y.shape}; each input cast to out_t"]
    return LayerCode("".join("    " + ln + "\n" for ln in lines), doc)


@REGISTRY.register("lut")
def lut(op, ctx: LayerContext) -> LayerCode:
    """Print a LUT op: y = table[bits(x)]."""
    x, y = ctx.tensor(), ctx.out
    if x.fmt.kind != "fixed" or y.fmt.kind != "fixed":
        raise ctx.fail(f"lookup tables from {x.fmt} to {y.fmt} are not supported (fixed point only)")
    fn = ctx.fn
    n = len(op.table)
    params = (
        f"// table of lut {op.name!r} ({op.function or 'function'}): entry k is the output for the input whose\n"
        f"// {x.fmt.width}-bit pattern is k; format {y.fmt} (exact values)\n"
        f"// (raw integers: entries are copied bit for bit into the output, never converted)\n"
        f"static const {'ap_int' if y.fmt.signed else 'ap_uint'}<{y.fmt.width}> {fn}_table{dims((n,))} = "
        f"{array_initialiser(op.table, 0)};\n"
    )
    w = x.fmt.width
    body = (
        f"    for (int i = 0; i < {x.size}; i++) {{\n"
        f"        y[i] = hwq_from_raw<{ctx.out_type}>({fn}_table[x[i].range({w - 1}, 0).to_uint()]);\n"
        f"    }}\n"
    )
    doc = [f"lut {op.name!r} ({op.function or 'table'}): {x.name!r} {x.fmt} -> {y.name!r} {y.fmt}, y = table[bits(x)]"]
    return LayerCode(body, doc, params=params, param_arrays=[f"{fn}_table"])


@REGISTRY.register("requantize", supports=_requantize_modes)
def requantize(op, ctx: LayerContext) -> LayerCode:
    """Print a Requantize op (cast or dyadic)."""
    x, y = ctx.tensor(), ctx.out
    if op.mode == "cast":
        stmt = f"y[i] = {ctx.cast(ctx.val('x[i]', x.fmt), x.fmt, ctx.out_type, y.fmt)};"
        body = f"    for (int i = 0; i < {x.size}; i++) {{\n        {stmt}\n    }}\n"
        return LayerCode(body, [f"requantize {op.name!r} (cast): {x.fmt} -> {y.fmt}, y = (out_t)x"])
    if x.fmt.kind != "fixed" or y.fmt.kind != "fixed":
        raise ctx.fail(f"dyadic requantisation from {x.fmt} to {y.fmt} needs fixed-point raws")
    fn = ctx.fn
    c = x.shape[0] if x.shape else 1
    inner = x.size // c
    per_channel = len(op.multiplier) > 1
    amin = y.fmt.raw_min if op.act_min is None else int(op.act_min)
    amax = y.fmt.raw_max if op.act_max is None else int(op.act_max)
    mults = ", ".join(f"{int(v)}LL" for v in op.multiplier)
    shifts = ", ".join(str(int(v)) for v in op.shift)
    params = (
        f"// requantize {op.name!r}: Q31 multipliers and shifts ({'per channel' if per_channel else 'per tensor'})\n"
        f"static const long long {fn}_scale[{len(op.multiplier)}] = {{{mults}}};\n"
        f"static const int {fn}_shift[{len(op.shift)}] = {{{shifts}}};\n"
    )
    k = "c" if per_channel else "0"
    single = "true" if op.single_rounding else "false"
    body = (
        f"    for (int c = 0; c < {c}; c++) {{\n"
        f"        for (int k = 0; k < {inner}; k++) {{\n"
        f"            const long long v = hwq_raw(x[c * {inner} + k]).to_int64();\n"
        f"            long long r = hwq_requantize(v, {fn}_scale[{k}], {fn}_shift[{k}], {single});\n"
        f"            r += {int(op.out_offset)}LL;  // output offset\n"
        f"            if (r < {amin}LL) r = {amin}LL;\n"
        f"            if (r > {amax}LL) r = {amax}LL;\n"
        f"            y[c * {inner} + k] = hwq_from_raw<{ctx.out_type}>(ap_int<64>(r));\n"
        f"        }}\n"
        f"    }}\n"
    )
    doc = [
        f"requantize {op.name!r} (dyadic, {'single' if op.single_rounding else 'double'} rounding): {x.fmt} -> {y.fmt}",
        f"y_raw = clamp(requantize(x_raw, m, s) + {int(op.out_offset)}, {amin}, {amax}) as CMSIS-NN computes it",
    ]
    return LayerCode(body, doc, params=params, param_arrays=[f"{fn}_scale", f"{fn}_shift"], n_mult=x.size)
