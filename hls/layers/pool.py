"""Pooling over flat ``(C, L)`` / ``(C, H, W)`` arrays: MaxPool, AvgPool, GlobalAvgPool
(``hwq/ir/ops/maxpool.py``, ``avgpool.py``, ``global_avgpool.py``).

MaxPool: ``m`` = the largest real element of the window (padded positions never selected), then
``y = (out_t)m``. AvgPool / GlobalAvgPool: ``acc = 0; acc += (accum_t)x`` over the window in row-major
order (padded positions hold 0 and add nothing), then ``y = (out_t)(acc * recip)`` with the reciprocal
``recip * 2^-R`` an exact unsigned constant (a power of two for power-of-two windows).
"""

from __future__ import annotations

from hwq.formats import FixedFormat

from ..cpp import fixed_literal, fixed_type, mult_fmt
from .base import REGISTRY, LayerCode, LayerContext


def _geometry(op, shape):
    """(C, H, W, kH, kW, sH, sW, pad top, pad left, Ho, Wo) with 1-D tensors as height 1."""
    if op.kind == "global_avgpool":
        c = shape[0]
        n = 1
        for s in shape[1:]:
            n *= s
        return c, 1, n, 1, n, 1, 1, 0, 0, 1, 1
    if len(shape) == 2:
        c, w = shape
        (k,), (s,) = tuple(op.kernel), tuple(op.stride)
        pl, pr = (int(v) for v in op.padding)
        return c, 1, w, 1, k, 1, s, 0, pl, 1, (w + pl + pr - k) // s + 1
    c, h, w = shape
    kh, kw = (int(v) for v in op.kernel)
    sh, sw = (int(v) for v in op.stride)
    pt, pb, pl, pr = (int(v) for v in op.padding)
    return c, h, w, kh, kw, sh, sw, pt, pl, (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1


def _recip_mode(op, graph) -> str | None:
    mode = getattr(op, "mode", "recip")
    if mode != "recip":
        return f"mode {mode!r} is not supported by the HLS emitter (supported: 'recip')"
    return None


@REGISTRY.register("maxpool")
def maxpool(op, ctx: LayerContext) -> LayerCode:
    """Print a MaxPool op: y = (out_t)max(window)."""
    return _pool(op, ctx)


@REGISTRY.register("avgpool", supports=_recip_mode)
def avgpool(op, ctx: LayerContext) -> LayerCode:
    """Print an AvgPool op: window sum in the accumulator, times the reciprocal, one cast."""
    return _pool(op, ctx)


@REGISTRY.register("global_avgpool", supports=_recip_mode)
def global_avgpool(op, ctx: LayerContext) -> LayerCode:
    """Print a GlobalAvgPool op: channel sum in the accumulator, times the reciprocal, one cast."""
    return _pool(op, ctx)


def _pool(op, ctx: LayerContext) -> LayerCode:
    """Print a pooling op (see the module docstring)."""
    x, y = ctx.tensor(), ctx.out
    ctx.require_fixed(f"input {x.name!r}", x.fmt)
    if op.kind != "maxpool":
        ctx.require_fixed(f"output {y.name!r}", y.fmt)
    c, h, w, kh, kw, sh, sw, pt, pl, ho, wo = _geometry(op, x.shape)
    pad_h = op.kind != "global_avgpool" and (pt or (ho - 1) * sh + kh > h + pt)
    pad_w = op.kind != "global_avgpool" and (pl or (wo - 1) * sw + kw > w + pl)
    r = f"i * {sh} + kh" + (f" - {pt}" if pt else "") if kh > 1 or sh > 1 or pt else "i"
    q = f"j * {sw} + kw" + (f" - {pl}" if pl else "") if kw > 1 or sw > 1 or pl else "j"
    conds = ([f"r >= 0 && r < {h}"] if pad_h else []) + ([f"q >= 0 && q < {w}"] if pad_w else [])
    fn = ctx.fn
    typedefs, doc = [], [f"{op.kind} {op.name!r}: {x.name!r} {x.fmt} {x.shape} -> {y.name!r} {y.fmt} {y.shape}"]
    if op.kind == "maxpool":
        doc.append(f"kernel {op.kernel}, stride {op.stride}, padding {op.padding}; y = (out_t)max(window)")
        init = [f"{ctx.in_type()} m = 0;", "bool seen = false;"]
        step = ["const " + ctx.in_type() + " v = x[(c * " + f"{h} + r) * {w} + q];", "if (!seen || v > m) {"]
        step += ["    m = v;", "    seen = true;", "}"]
        result = ctx.cast("m", x.fmt, ctx.out_type, y.fmt)
    else:
        acc_t, rc_t = f"{fn}_accum_t", f"{fn}_recip_t"
        rbits = max(1, int(op.recip).bit_length())
        rfmt = FixedFormat(rbits, rbits - int(op.recip_frac_bits), False)
        typedefs = [
            (acc_t, ctx.ctype(op.acc_fmt, "accumulator"), f"accumulator format {op.acc_fmt}"),
            (rc_t, fixed_type(rfmt), f"reciprocal {op.recip} * 2^-{op.recip_frac_bits}, exact"),
        ]
        what = (
            f"kernel {op.kernel}, stride {op.stride}, padding {op.padding}" if op.kind == "avgpool" else "all positions"
        )
        doc += [
            f"{what}; accumulator {op.acc_fmt}, reciprocal {op.recip} * 2^-{op.recip_frac_bits}",
            "acc = 0; acc += (accum_t)x over the window (row-major); y = (out_t)(acc * recip)",
        ]
        init = [f"{acc_t} acc = 0;"]
        step = [f"acc += {ctx.cast(f'x[(c * {h} + r) * {w} + q]', x.fmt, acc_t, op.acc_fmt)};"]
        recip = f"({rc_t}){fixed_literal(int(op.recip), int(op.recip_frac_bits))}"
        result = ctx.cast(f"acc * {recip}", mult_fmt(op.acc_fmt, rfmt), ctx.out_type, y.fmt)
    if h == 1 and kh == 1 and not pad_h:
        step = [s.replace(f"(c * {h} + r) * {w} + q", f"c * {w} + q") for s in step]
        r_line = []
    else:
        r_line = [f"const int r = {r};"]
    inner = r_line + [f"const int q = {q};"]
    if conds:
        inner += [f"if ({' && '.join(conds)}) {{"] + ["    " + s for s in step] + ["}"]
    else:
        inner += step
    lines = [f"for (int c = 0; c < {c}; c++) {{"]
    lines += [f"    for (int i = 0; i < {ho}; i++) {{", f"        for (int j = 0; j < {wo}; j++) {{"]
    ind = "            "
    lines += [ind + s for s in init]
    loops = ([("kh", kh)] if kh > 1 else []) + ([("kw", kw)] if kw > 1 else [])
    for var, n in loops:
        lines.append(f"{ind}for (int {var} = 0; {var} < {n}; {var}++) {{")
        ind += "    "
    if kh == 1:
        inner = [s.replace(" + kh", "") for s in inner]
    if kw == 1:
        inner = [s.replace(" + kw", "") for s in inner]
    lines += [ind + s for s in inner]
    for _ in loops:
        ind = ind[:-4]
        lines.append(ind + "}")
    lines += [f"{ind}y[(c * {ho} + i) * {wo} + j] = {result};", "        }", "    }", "}"]
    n_mult = y.size if op.kind != "maxpool" else 0
    return LayerCode("".join("    " + ln + "\n" for ln in lines), doc, typedefs=typedefs, n_mult=n_mult)
