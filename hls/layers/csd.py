"""Multiplier-free Dense / Conv with CSD weights (``csd<W,I,k>``): every product is printed as at most
k shifted adds of the input's raw integer, one line per weight, so the C++ holds no ``*``.

For a weight with raw integer ``w = sum_d s_d * 2^p_d`` (``hwq.formats.csd_digits``), the exact product
raw is ``P = sum_d s_d * (X << p_d)`` with X the input's raw integer, in units of 2^-(F_x + F_w): the same
exact product the interpreter forms. It is computed in ``ap_int<Wx + Ww + 2>`` (wide enough for every
partial sum), reinterpreted as ``<op>_prod_t`` (that width, F_x + F_w fractional bits) and cast to the
accumulator, as for fixed-point weights. Zero weights add nothing and are skipped: the interpreter adds
a cast 0, which leaves the accumulator unchanged under every mode.
"""

from __future__ import annotations

from hwq.formats import FixedFormat, csd_digits

from ..cpp import array_initialiser, dims, fixed_type
from .base import LayerCode, LayerContext


def shift_add(xr: str, w_raw: int) -> str:
    """C++ raw-integer expression of xr * w_raw as shifted adds (no multiplication), largest digit first."""
    text = ""
    for sign, shift in sorted(csd_digits(int(w_raw)), key=lambda d: -d[1]):
        t = f"({xr} << {shift})" if shift else xr
        if not text:
            text = ("-" if sign < 0 else "") + t
        else:
            text += (" - " if sign < 0 else " + ") + t
    return text or "0"


def _lin(var: str, step: int, offset: int) -> str:
    """``var * step + offset`` with trivial parts dropped."""
    s = var if step == 1 else f"{var} * {step}"
    return f"{s} + {offset}" if offset > 0 else f"{s} - {-offset}" if offset < 0 else s


def _digits_text(w_raw: int) -> str:
    d = sorted(csd_digits(int(w_raw)), key=lambda t: -t[1])
    return " ".join(f"{'+' if s > 0 else '-'}2^{p}" for s, p in d) or "0"


def _types(op, ctx: LayerContext, x_fmt):
    ctx.require_fixed(f"input {op.inputs[0]!r} of a multiplier-free layer", x_fmt)
    ctx.require_fixed("the bias", op.bias_fmt)
    fn = ctx.fn
    wf = op.weight_fmt
    wp = x_fmt.width + wf.width + 2
    prod = FixedFormat(wp, x_fmt.int_bits + wf.int_bits + 2, True)
    b_t, acc_t, raw_t, prod_t = f"{fn}_bias_t", f"{fn}_accum_t", f"{fn}_raw_t", f"{fn}_prod_t"
    typedefs = [
        (b_t, ctx.param_type(op.bias_fmt, "bias"), f"bias format {op.bias_fmt} (stored exactly)"),
        (acc_t, ctx.ctype(op.acc_fmt, "accumulator"), f"accumulator format {op.acc_fmt}"),
        (raw_t, f"ap_int<{wp}>", "input raw integers, wide enough for every shift-and-add partial sum"),
        (prod_t, fixed_type(prod), f"exact products at {x_fmt.frac_bits + wf.frac_bits} fractional bits"),
    ]
    bias = (
        f"// bias of {op.kind} {op.name!r}: format {op.bias_fmt} (exact values); the weights ({wf}) are\n"
        f"// constants of the shift-and-add code in layers.h\n"
        f"static const {b_t} {fn}_b{dims((len(op.bias),))} = {array_initialiser(op.bias, op.bias_fmt.frac_bits)};\n"
    )
    return typedefs, bias, prod, acc_t, raw_t, prod_t


def _term(ctx, xr: str, w_raw: int, prod, prod_t: str, acc_t: str, acc_fmt) -> str:
    return ctx.cast(f"hwq_from_raw<{prod_t}>({shift_add(xr, w_raw)})", prod, acc_t, acc_fmt)


def emit_dense(op, ctx: LayerContext) -> LayerCode:
    """Dense with CSD weights, unrolled: one shift-and-add line per non-zero weight."""
    x = ctx.tensor()
    m, n = op.weight.shape
    typedefs, params, prod, acc_t, raw_t, prod_t = _types(op, ctx, x.fmt)
    fn = ctx.fn
    lines = [f"{raw_t} xr[{n}];", f"for (int i = 0; i < {n}; i++) {{", "    xr[i] = hwq_raw(x[i]);", "}"]
    for j in range(m):
        lines += [
            "{",
            f"    // output {j}",
            f"    {acc_t} acc = {ctx.cast(f'{fn}_b[{j}]', op.bias_fmt, acc_t, op.acc_fmt)};",
        ]
        for i in range(n):
            w = int(op.weight[j, i])
            if w:
                term = _term(ctx, f"xr[{i}]", w, prod, prod_t, acc_t, op.acc_fmt)
                lines.append(f"    acc += {term};  // w[{j}][{i}] = {w} = {_digits_text(w)}")
        lines += [f"    y[{j}] = {ctx.cast('acc', op.acc_fmt, ctx.out_type, ctx.out.fmt)};", "}"]
    doc = [
        f"dense {op.name!r} (multiplier-free): {x.name!r} {x.fmt} ({n},) -> {ctx.out.name!r} {ctx.out.fmt} ({m},)",
        f"weight {op.weight_fmt} as shifted adds, bias {op.bias_fmt}, accumulator {op.acc_fmt}",
        "acc = bias[j]; acc += (accum_t)(x[i] * w[j][i]) for i in order (zero weights skipped); y = (out_t)acc",
    ]
    body = "".join("    " + ln + "\n" for ln in lines)
    return LayerCode(body, doc, typedefs=typedefs, params=params, param_arrays=[f"{fn}_b"], n_mult=0)


def emit_conv(op, ctx: LayerContext, g: dict, two_d: bool, ho: int, wo: int) -> LayerCode:
    """Conv1d/Conv2d with CSD weights: spatial loops, output channels and taps unrolled."""
    x, y = ctx.tensor(), ctx.out
    typedefs, params, prod, acc_t, raw_t, prod_t = _types(op, ctx, x.fmt)
    fn = ctx.fn
    w4 = op.weight if op.kind == "conv2d" else op.weight[:, :, None, :]
    cout, cg, kh, kw = w4.shape
    mg = cout // int(op.groups)
    h_, w_ = g["h"], g["w"]
    lines = [f"{raw_t} xr[{x.size}];", f"for (int i = 0; i < {x.size}; i++) {{", "    xr[i] = hwq_raw(x[i]);", "}"]
    outer = ([("i", ho)] if two_d else []) + [("j", wo)]
    ind = ""
    for var, n in outer:
        lines.append(f"{ind}for (int {var} = 0; {var} < {n}; {var}++) {{")
        ind += "    "
    for o in range(cout):
        grp = o // mg
        lines += [f"{ind}{{  // output channel {o}"]
        lines.append(f"{ind}    {acc_t} acc = {ctx.cast(f'{fn}_b[{o}]', op.bias_fmt, acc_t, op.acc_fmt)};")
        for c in range(cg):
            ch = grp * cg + c
            for a in range(kh):
                for b in range(kw):
                    wv = int(w4[o, c, a, b])
                    if not wv:
                        continue
                    r = _lin("i", g["sh"], a * g["dh"] - g["pt"]) if two_d else None
                    q = _lin("j", g["sw"], b * g["dw"] - g["pl"])
                    idx = f"({_lin(r, 1, ch * h_)}) * {w_} + {q}" if two_d else _lin(q, 1, ch * w_)
                    conds = []
                    if two_d and (g["pt"] or g["pb"]):
                        conds.append(f"{r} >= 0 && {r} < {h_}")
                    if g["pl"] or g["pr"]:
                        conds.append(f"{q} >= 0 && {q} < {w_}")
                    term = _term(ctx, f"xr[{idx}]", wv, prod, prod_t, acc_t, op.acc_fmt)
                    stmt = f"acc += {term};  // w[{o}][{c}][{a}][{b}] = {wv} = {_digits_text(wv)}"
                    if conds:
                        lines.append(f"{ind}    if ({' && '.join(conds)}) {stmt}")
                    else:
                        lines.append(f"{ind}    {stmt}")
        out_index = f"({o} * {ho} + i) * {wo} + j" if two_d else f"{o} * {wo} + j"
        lines += [f"{ind}    y[{out_index}] = {ctx.cast('acc', op.acc_fmt, ctx.out_type, y.fmt)};", f"{ind}}}"]
    for _ in outer:
        ind = ind[:-4]
        lines.append(ind + "}")
    doc = [
        f"{op.kind} {op.name!r} (multiplier-free): {x.name!r} {x.fmt} {x.shape} -> {y.name!r} {y.fmt} {y.shape}",
        f"stride {op.stride}, padding {op.padding}, dilation {op.dilation}, groups {op.groups}",
        f"weight {op.weight_fmt} as shifted adds, bias {op.bias_fmt}, accumulator {op.acc_fmt}",
        "acc = bias[o]; acc += (accum_t)(x * w) over (c, kh, kw) in row-major order; y = (out_t)acc",
    ]
    body = "".join("    " + ln + "\n" for ln in lines)
    return LayerCode(body, doc, typedefs=typedefs, params=params, param_arrays=[f"{fn}_b"], n_mult=0)
