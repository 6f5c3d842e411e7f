"""Conv1d / Conv2d: direct convolution over flat channels-first arrays, hls4ml's accumulation order.

For output channel o (group g = o / (Cout/groups)) and position (i, j), as ``hwq/ir/ops/conv2d.py``::

    acc = (accum_t)bias[o];
    for c, kh, kw (row-major): acc += (accum_t)(x[g*Cg + c][i*sh + kh*dh - top][j*sw + kw*dw - left] * w[o][c][kh][kw]);
    y[o][i][j] = (out_t)acc;

Padded positions are skipped: in the IR they hold 0, whose product casts to 0 and leaves the accumulator
unchanged under every rounding and overflow mode. Conv1d is printed as a 2-D convolution of height 1.
"""

from __future__ import annotations

from hwq.backend import no_input_offset

from ..cpp import dims
from .base import REGISTRY, LayerCode, LayerContext
from .csd import emit_conv as emit_csd_conv
from .mac import product_expr


def _geometry(op, x_shape):
    if op.kind == "conv1d":
        cin, length = x_shape
        cout, cg, k = op.weight.shape
        return dict(
            cin=cin, h=1, w=length, cout=cout, cg=cg, kh=1, kw=k, sh=1, sw=int(op.stride), dh=1,
            dw=int(op.dilation), pt=0, pb=0, pl=int(op.padding[0]), pr=int(op.padding[1]),
        )  # fmt: skip
    cin, h, w = x_shape
    cout, cg, kh, kw = op.weight.shape
    pt, pb, pl, pr = (int(v) for v in op.padding)
    return dict(
        cin=cin, h=h, w=w, cout=cout, cg=cg, kh=kh, kw=kw, sh=int(op.stride[0]), sw=int(op.stride[1]),
        dh=int(op.dilation[0]), dw=int(op.dilation[1]), pt=pt, pb=pb, pl=pl, pr=pr,
    )  # fmt: skip


def _term(var: str, step: int, k: str, dil: int, pad: int) -> str:
    """C++ index expression ``var*step + k*dil - pad`` with trivial factors dropped."""
    parts = [var if step == 1 else f"{var} * {step}"]
    if k:
        parts.append(k if dil == 1 else f"{k} * {dil}")
    s = " + ".join(parts)
    return f"{s} - {pad}" if pad else s


@REGISTRY.register("conv1d", supports=no_input_offset)
def conv1d(op, ctx: LayerContext) -> LayerCode:
    """Print a Conv1d op (see the module docstring)."""
    return _conv(op, ctx)


@REGISTRY.register("conv2d", supports=no_input_offset)
def conv2d(op, ctx: LayerContext) -> LayerCode:
    """Print a Conv2d op (see the module docstring)."""
    return _conv(op, ctx)


def _conv(op, ctx: LayerContext) -> LayerCode:
    """Print a Conv1d or Conv2d op (see the module docstring)."""
    fn = ctx.fn
    x, y = ctx.tensor(), ctx.out
    g = _geometry(op, x.shape)
    ho = y.shape[1] if op.kind == "conv2d" else 1
    wo = y.shape[-1]
    groups = int(op.groups)
    mg = g["cout"] // groups
    w_t, b_t, acc_t = f"{fn}_weight_t", f"{fn}_bias_t", f"{fn}_accum_t"
    wshape = op.weight.shape
    params = (
        f"// weight of {op.kind} {op.name!r}: shape {tuple(wshape)} (Cout, Cin/groups, kernel), "
        f"format {op.weight_fmt}\n"
        f"static const {w_t} {fn}_w{dims(wshape)} = {ctx.param_init(op.weight, op.weight_fmt)};\n\n"
        f"// bias of {op.kind} {op.name!r}: format {op.bias_fmt}\n"
        f"static const {b_t} {fn}_b{dims((g['cout'],))} = {ctx.param_init(op.bias, op.bias_fmt)};\n"
    )
    h_, w_ = g["h"], g["w"]
    # A 1-D geometry (conv1d, or conv2d with one row in and out) drops the row loops and index.
    two_d = not (h_ == 1 and g["kh"] == 1 and g["pt"] == g["pb"] == 0 and ho == 1)
    if getattr(op.weight_fmt, "kind", None) == "csd":
        return emit_csd_conv(op, ctx, g, two_d, ho, wo)
    ch = "c" if groups == 1 else f"(o / {mg}) * {g['cg']} + c"
    x_index = f"(ch * {h_} + r) * {w_} + q" if two_d else f"ch * {w_} + q"
    if op.kind == "conv1d":
        w_index = "[o][c][kw]"
    else:
        w_index = "[o][c][kh][kw]" if two_d else "[o][c][0][kw]"
    prod = product_expr(ctx, f"x[{x_index}]", f"{fn}_w{w_index}", x.fmt, op.weight_fmt, "weight", acc_t, op.acc_fmt)
    inner = [f"const int ch = {ch};"]
    if two_d:
        inner.append(f"const int r = {_term('i', g['sh'], 'kh', g['dh'], g['pt'])};")
    inner.append(f"const int q = {_term('j', g['sw'], 'kw', g['dw'], g['pl'])};")
    conds = []
    if g["pt"] or g["pb"]:
        conds.append(f"r >= 0 && r < {h_}")
    if g["pl"] or g["pr"]:
        conds.append(f"q >= 0 && q < {w_}")
    if conds:
        inner.append(f"if ({' && '.join(conds)}) {{  // padded positions hold 0 and add nothing")
        inner.append(f"    acc += {prod.expr};")
        inner.append("}")
    else:
        inner.append(f"acc += {prod.expr};")
    outer = [("o", g["cout"])] + ([("i", ho)] if two_d else []) + [("j", wo)]
    macs = [("c", g["cg"])] + ([("kh", g["kh"])] if two_d else []) + [("kw", g["kw"])]
    body, ind = [], ""
    for var, n in outer:
        body.append(f"{ind}for (int {var} = 0; {var} < {n}; {var}++) {{")
        ind += "    "
    body.append(f"{ind}{acc_t} acc = {ctx.cast(f'{fn}_b[o]', op.bias_fmt, acc_t, op.acc_fmt)};")
    for var, n in macs:
        body.append(f"{ind}for (int {var} = 0; {var} < {n}; {var}++) {{")
        ind += "    "
    body += [ind + ln for ln in inner]
    for _ in macs:
        ind = ind[:-4]
        body.append(ind + "}")
    out_index = f"(o * {ho} + i) * {wo} + j" if two_d else f"o * {wo} + j"
    body.append(f"{ind}y[{out_index}] = {ctx.cast('acc', op.acc_fmt, ctx.out_type, y.fmt)};")
    for _ in outer:
        ind = ind[:-4]
        body.append(ind + "}")
    text = "".join("    " + ln + "\n" for ln in body)
    typedefs = [
        (w_t, ctx.param_type(op.weight_fmt, "weight"), f"weight format {op.weight_fmt} (stored exactly)"),
        (b_t, ctx.param_type(op.bias_fmt, "bias"), f"bias format {op.bias_fmt} (stored exactly)"),
        (acc_t, ctx.ctype(op.acc_fmt, "accumulator"), f"accumulator format {op.acc_fmt}"),
    ] + prod.typedefs
    doc = [
        f"{op.kind} {op.name!r}: {x.name!r} {x.fmt} {x.shape} -> {y.name!r} {y.fmt} {y.shape}",
        f"kernel {tuple(wshape[2:])}, stride {op.stride}, padding {op.padding}, dilation {op.dilation}, "
        f"groups {groups}",
        f"weight {op.weight_fmt}, bias {op.bias_fmt}, accumulator {op.acc_fmt}",
        "acc = bias[o]; acc += (accum_t)(x * w) over (c, kh, kw) in row-major order; y = (out_t)acc",
    ] + prod.doc
    n_mult = prod.n_mult_per_term * int(y.size) * g["cg"] * g["kh"] * g["kw"]
    return LayerCode(
        body=text,
        doc=doc,
        typedefs=typedefs,
        params=params,
        param_arrays=[f"{fn}_w", f"{fn}_b"],
        n_mult=n_mult,
        includes=prod.includes,
    )
