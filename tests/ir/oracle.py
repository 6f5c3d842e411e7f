"""Independent oracles for the IR ops: plain Python ints and Fractions, one scalar at a time.

Nothing here calls hwq's arithmetic (no ``cast_raw``, no op evaluators): formats are only read for
their parameters (width, int_bits, signed, rounding, overflow), and the ap_fixed cast is re-derived
from its definition on exact rationals.
"""

from __future__ import annotations

import math
from fractions import Fraction


def frac_bits(fmt) -> int:
    if getattr(fmt, "kind", "fixed") == "int":
        # affine int<W,...>: plain integers unless per-tensor, zero point 0 and scale exactly 2**-F
        if fmt.axis is None and fmt.zero_point == (0,):
            q = Fraction(fmt.scale[0])
            if q.numerator == 1 and q.denominator & (q.denominator - 1) == 0:
                return q.denominator.bit_length() - 1
            if q.denominator == 1 and q.numerator & (q.numerator - 1) == 0:
                return -(q.numerator.bit_length() - 1)
        return 0
    if getattr(fmt, "kind", "fixed") == "float":
        return fmt.bias + fmt.man_bits - 1  # the smallest subnormal is 2**-(bias + M - 1)
    return fmt.width - fmt.int_bits


def o_round(v: Fraction, mode: str) -> int:
    """Round an exact rational to an integer with an ap_fixed rounding mode."""
    fl = math.floor(v)
    d = v - fl
    if mode == "TRN":
        return fl
    if mode == "TRN_ZERO":
        return fl if v >= 0 else math.ceil(v)
    if d != Fraction(1, 2):
        return fl + (1 if d > Fraction(1, 2) else 0)
    # exact tie
    if mode == "RND":
        return fl + 1
    if mode == "RND_ZERO":
        return fl + 1 if v < 0 else fl
    if mode == "RND_INF":
        return fl + 1 if v > 0 else fl
    if mode == "RND_MIN_INF":
        return fl
    if mode == "RND_CONV":
        return fl if fl % 2 == 0 else fl + 1
    raise ValueError(mode)


def o_overflow(r: int, fmt) -> int:
    w = fmt.width
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if fmt.signed else (0, (1 << w) - 1)
    if fmt.overflow == "SAT_SYM" and fmt.signed:
        lo = -hi  # ap_fixed maps the most negative code to -max as well (ap_fixed_base.h, SAT_SYM underflow)
    if lo <= r <= hi:
        return r
    mode = fmt.overflow
    if mode == "WRAP":
        r %= 1 << w
        if fmt.signed and r > hi:
            r -= 1 << w
        return r
    if mode == "SAT":
        return lo if r < lo else hi
    if mode == "SAT_ZERO":
        return 0
    if mode == "SAT_SYM":
        return lo if r < lo else hi
    raise ValueError(mode)


def o_cast_value(v: Fraction, fmt) -> int:
    """Conversion of an exact real value into fmt's raw integer (ap_fixed, or minifloat RNE)."""
    if getattr(fmt, "kind", "fixed") == "float":
        return o_cast_float(v, fmt)
    return o_overflow(o_round(v * Fraction(2) ** frac_bits(fmt), fmt.rounding), fmt)


_FLOAT_MAGS: dict = {}


def float_magnitudes(fmt) -> list[tuple[int, int]]:
    """(raw magnitude, code) of every finite non-negative code, ascending, from the encoding's definition:
    code = e (E bits) . m (M bits); e == 0: m * 2**0 raw units (subnormal), else (2**M + m) * 2**(e-1).
    ieee reserves exponent all-ones (inf/NaN); fn reserves the all-ones magnitude (NaN)."""
    key = (fmt.exp_bits, fmt.man_bits, fmt.policy)
    if key not in _FLOAT_MAGS:
        e_bits, m_bits = fmt.exp_bits, fmt.man_bits
        top = (1 << (e_bits + m_bits)) - 1
        out = []
        for code in range(top + 1):
            e, m = code >> m_bits, code & ((1 << m_bits) - 1)
            if fmt.policy == "ieee" and e == (1 << e_bits) - 1:
                continue
            if fmt.policy == "fn" and code == top:
                continue
            out.append((m if e == 0 else ((1 << m_bits) + m) << (e - 1), code))
        _FLOAT_MAGS[key] = out
    return _FLOAT_MAGS[key]


def o_cast_float(v: Fraction, fmt) -> int:
    """Round to nearest representable (ties to the even code), saturate beyond max, FTZ for nosub."""
    assert fmt.rounding == "RNE"
    mags = float_magnitudes(fmt)
    a = abs(v) * Fraction(2) ** frac_bits(fmt)
    if a >= mags[-1][0]:
        r = mags[-1][0]
    else:
        r = None
        for (lo, c_lo), (hi, _c_hi) in zip(mags, mags[1:]):
            if lo <= a <= hi:
                if a - lo < hi - a:
                    r = lo
                elif a - lo > hi - a:
                    r = hi
                else:
                    r = lo if c_lo % 2 == 0 else hi
                break
    if not fmt.subnormals and r < (1 << fmt.man_bits):
        r = 0
    return -r if v < 0 else r


def o_cast(raw: int, from_frac: int, fmt) -> int:
    """ap_fixed conversion of ``raw * 2**-from_frac`` into fmt's raw integer."""
    return o_cast_value(Fraction(int(raw)) * Fraction(2) ** -from_frac, fmt)


def val(raw: int, fmt_frac: int) -> Fraction:
    return Fraction(int(raw)) * Fraction(2) ** -fmt_frac


def o_dense(x, w, b, xf, wfmt, bfmt, accf, outf, input_offset=0):
    """x: list of raws; w: list of rows; returns list of output raws (hls4ml order)."""
    out = []
    for j in range(len(w)):
        acc = o_cast(b[j], frac_bits(bfmt), accf)
        for i in range(len(x)):
            p = o_cast((int(x[i]) + input_offset) * int(w[j][i]), frac_bits(xf) + frac_bits(wfmt), accf)
            acc = o_cast(acc + p, frac_bits(accf), accf)
        out.append(o_cast(acc, frac_bits(accf), outf))
    return out


def o_conv2d(x, w, b, xf, wfmt, bfmt, accf, outf, stride, padding, dilation, groups, input_offset=0):
    """x: nested lists (C, H, W); w: (Cout, Cin/g, kH, kW); scalar loops over every output pixel."""
    h, wd = len(x[0]), len(x[0][0])
    cout, cg, kh, kw = len(w), len(w[0]), len(w[0][0]), len(w[0][0][0])
    pt, pb, pl, pr = padding
    ho = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    mg = cout // groups
    pf = frac_bits(xf) + frac_bits(wfmt)
    af = frac_bits(accf)
    y = [[[0] * wo for _ in range(ho)] for _ in range(cout)]
    for o in range(cout):
        g = o // mg
        for i in range(ho):
            for j in range(wo):
                acc = o_cast(b[o], frac_bits(bfmt), accf)
                for c in range(cg):
                    for a in range(kh):
                        for e in range(kw):
                            r = i * stride[0] + a * dilation[0] - pt
                            s = j * stride[1] + e * dilation[1] - pl
                            inside = 0 <= r < h and 0 <= s < wd
                            xv = x[g * cg + c][r][s] + input_offset if inside else 0  # padding adds 0
                            p = o_cast(int(xv) * int(w[o][c][a][e]), pf, accf)
                            acc = o_cast(acc + p, af, accf)
                y[o][i][j] = o_cast(acc, af, outf)
    return y


# ----------------------------------------------------------------------------- per-op oracles on one sample
# Each takes (op, xs, graph) where xs are numpy arrays of one sample's input raws (no batch axis) and
# returns a nested list / array of output raws. Only op attributes and format parameters are read.


def _fmt(graph, name):
    return graph.tensor(name).fmt


def _ints(a):
    import numpy as np

    return np.asarray(a).astype(object).tolist()


def _o_dense(op, xs, graph):
    xf, yf = _fmt(graph, op.inputs[0]), _fmt(graph, op.output)
    w, b = _ints(op.weight), _ints(op.bias)
    return o_dense(_ints(xs[0]), w, b, xf, op.weight_fmt, op.bias_fmt, op.acc_fmt, yf, op.input_offset)


def _o_conv2d(op, xs, graph):
    xf, yf = _fmt(graph, op.inputs[0]), _fmt(graph, op.output)
    return o_conv2d(
        _ints(xs[0]),
        _ints(op.weight),
        _ints(op.bias),
        xf,
        op.weight_fmt,
        op.bias_fmt,
        op.acc_fmt,
        yf,
        tuple(op.stride),
        tuple(op.padding),
        tuple(op.dilation),
        op.groups,
        op.input_offset,
    )


def _o_conv1d(op, xs, graph):
    xf, yf = _fmt(graph, op.inputs[0]), _fmt(graph, op.output)
    x = [[row] for row in _ints(xs[0])]  # (C, 1, L)
    w = [[[k] for k in c] for c in _ints(op.weight)]  # (Cout, Cg, 1, K)
    y = o_conv2d(
        x,
        w,
        _ints(op.bias),
        xf,
        op.weight_fmt,
        op.bias_fmt,
        op.acc_fmt,
        yf,
        (1, op.stride),
        (0, 0, op.padding[0], op.padding[1]),
        (1, op.dilation),
        op.groups,
        op.input_offset,
    )
    return [c[0] for c in y]


def _map(f, a):
    if isinstance(a, list):
        return [_map(f, v) for v in a]
    return f(a)


def _map2(f, a, b):
    if isinstance(a, list):
        return [_map2(f, u, v) for u, v in zip(a, b, strict=True)]
    return f(a, b)


def _o_relu(op, xs, graph):
    xf, yf = _fmt(graph, op.inputs[0]), _fmt(graph, op.output)
    return _map(lambda v: o_cast(v if v > 0 else 0, frac_bits(xf), yf), _ints(xs[0]))


def _o_add(op, xs, graph):
    af, bf = (frac_bits(_fmt(graph, n)) for n in op.inputs)
    yf = _fmt(graph, op.output)
    return _map2(lambda a, b: o_cast_value(val(a, af) + val(b, bf), yf), _ints(xs[0]), _ints(xs[1]))


def _o_mul(op, xs, graph):
    af, bf = (frac_bits(_fmt(graph, n)) for n in op.inputs)
    yf = _fmt(graph, op.output)
    return _map2(lambda a, b: o_cast_value(val(a, af) * val(b, bf), yf), _ints(xs[0]), _ints(xs[1]))


def _flat(a):
    if isinstance(a, list):
        out = []
        for v in a:
            out.extend(_flat(v))
        return out
    return [a]


def _o_flatten(op, xs, graph):
    return _flat(_ints(xs[0]))


def _o_reshape(op, xs, graph):
    import numpy as np

    flat = _flat(_ints(xs[0]))
    return np.array(flat, dtype=object).reshape(graph.tensor(op.output).shape).tolist()


ORACLES = {
    "dense": _o_dense,
    "conv2d": _o_conv2d,
    "conv1d": _o_conv1d,
    "relu": _o_relu,
    "add": _o_add,
    "mul": _o_mul,
    "flatten": _o_flatten,
    "reshape": _o_reshape,
}


def _o_batchnorm(op, xs, graph):
    import numpy as np

    xf, yf = frac_bits(_fmt(graph, op.inputs[0])), _fmt(graph, op.output)
    x = np.asarray(xs[0]).astype(object)
    out = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(x.shape):
        c = idx[0]
        v = val(x[idx], xf) * val(op.scale[c], frac_bits(op.scale_fmt)) + val(op.bias[c], frac_bits(op.bias_fmt))
        out[idx] = o_cast_value(v, yf)
    return out.tolist()


def _o_clip(op, xs, graph):
    xf, yf = frac_bits(_fmt(graph, op.inputs[0])), _fmt(graph, op.output)

    def f(v):
        if op.lo is not None and v < op.lo:
            v = op.lo
        if op.hi is not None and v > op.hi:
            v = op.hi
        return o_cast(v, xf, yf)

    return _map(f, _ints(xs[0]))


def _windows_1sample(x, kernel, stride, padding):
    """Yield (out_index, list of (inside, value)) for x (C, L) or (C, H, W), windows in row-major order."""
    import itertools

    import numpy as np

    x = np.asarray(x).astype(object)
    spatial = x.shape[1:]
    nd = len(spatial)
    outs = [(spatial[a] + padding[2 * a] + padding[2 * a + 1] - kernel[a]) // stride[a] + 1 for a in range(nd)]
    for c in range(x.shape[0]):
        for p in itertools.product(*[range(o) for o in outs]):
            items = []
            for q in itertools.product(*[range(k) for k in kernel]):
                pos = tuple(p[a] * stride[a] + q[a] - padding[2 * a] for a in range(nd))
                inside = all(0 <= pos[a] < spatial[a] for a in range(nd))
                items.append((inside, int(x[(c, *pos)]) if inside else 0))
            yield (c, *p), items, (x.shape[0], *outs)


def _o_maxpool(op, xs, graph):
    import numpy as np

    xf, yf = frac_bits(_fmt(graph, op.inputs[0])), _fmt(graph, op.output)
    out = None
    for idx, items, shape in _windows_1sample(xs[0], op.kernel, op.stride, op.padding):
        if out is None:
            out = np.empty(shape, dtype=object)
        m = max(v for inside, v in items if inside)
        out[idx] = m if getattr(yf, "kind", "") == "int" else o_cast(m, xf, yf)
    return out.tolist()


def _o_mean(items, xf, op, yf):
    acc = o_cast(0, 0, op.acc_fmt)
    af = frac_bits(op.acc_fmt)
    for _inside, v in items:
        acc = o_cast(acc + o_cast(v, xf, op.acc_fmt), af, op.acc_fmt)
    return o_cast_value(val(acc, af) * val(op.recip, op.recip_frac_bits), yf)


def _o_avgpool_cmsis(op, xs, graph):
    """arm_avgpool_s8: valid elements only, C truncating division of the half-away adjusted sum."""
    import numpy as np

    yf = _fmt(graph, op.output)
    lo = yf.raw_min if op.act_min is None else op.act_min
    hi = yf.raw_max if op.act_max is None else op.act_max
    out = None
    for idx, items, shape in _windows_1sample(xs[0], op.kernel, op.stride, op.padding):
        if out is None:
            out = np.empty(shape, dtype=object)
        vals = [v for inside, v in items if inside]
        s, n = sum(vals), len(vals)
        num = s + n // 2 if s > 0 else s - n // 2
        q = abs(num) // n * (1 if num >= 0 else -1)  # C division truncates toward zero
        out[idx] = min(max(q, lo), hi)
    return out.tolist()


def _o_avgpool(op, xs, graph):
    import numpy as np

    if getattr(op, "mode", "recip") == "cmsis":
        return _o_avgpool_cmsis(op, xs, graph)

    xf, yf = frac_bits(_fmt(graph, op.inputs[0])), _fmt(graph, op.output)
    out = None
    for idx, items, shape in _windows_1sample(xs[0], op.kernel, op.stride, op.padding):
        if out is None:
            out = np.empty(shape, dtype=object)
        out[idx] = _o_mean(items, xf, op, yf)
    return out.tolist()


def _o_global_avgpool(op, xs, graph):
    import numpy as np

    xf, yf = frac_bits(_fmt(graph, op.inputs[0])), _fmt(graph, op.output)
    x = np.asarray(xs[0]).astype(object)
    return [_o_mean([(True, int(v)) for v in x[c].ravel()], xf, op, yf) for c in range(x.shape[0])]


def _o_concat(op, xs, graph):
    import numpy as np

    yf = _fmt(graph, op.output)
    parts = []
    for a, n in zip(xs, op.inputs, strict=True):
        f = frac_bits(_fmt(graph, n))
        parts.append(np.array(_map(lambda v, f=f: o_cast(v, f, yf), _ints(a)), dtype=object))
    return np.concatenate(parts, axis=op.axis).tolist()


def _o_lut(op, xs, graph):
    xf = _fmt(graph, op.inputs[0])
    table = [int(v) for v in op.table]
    if getattr(xf, "kind", "fixed") == "float":
        code_of = {mag: code for mag, code in reversed(float_magnitudes(xf))}  # first code per magnitude
        sign = 1 << (xf.exp_bits + xf.man_bits)
        return _map(lambda v: table[code_of[abs(v)] | (sign if v < 0 else 0)], _ints(xs[0]))
    return _map(lambda v: table[v % (1 << xf.width)], _ints(xs[0]))


def _wrap32(v: int) -> int:
    v %= 1 << 32
    return v - (1 << 32) if v >= 1 << 31 else v


def o_cmsis_requantize(x: int, m: int, s: int, single_rounding: bool) -> int:
    """arm_nn_requantize from its documented arithmetic, on Python ints."""
    if single_rounding:
        r = _wrap32(math.floor(Fraction(x * m, 2 ** (30 - s))))
        return math.floor(Fraction(_wrap32(r + 1), 2))
    v = _wrap32(x * 2 ** max(s, 0))
    h = _wrap32(math.floor(Fraction(v * m + 2**30, 2**31)))
    rs = max(-s, 0)
    if rs == 0:
        return h
    mag = math.floor(Fraction(abs(h), 2**rs) + Fraction(1, 2))  # half away from zero
    return mag if h >= 0 else -mag


def _wrap64(v: int) -> int:
    v %= 1 << 64
    return v - (1 << 64) if v >= 1 << 63 else v


def o_cmsis_requantize_s64(x: int, m: int, s: int) -> int:
    """arm_nn_requantize_s64 with REDUCE_MULTIPLIER, from the documented arithmetic, on Python ints."""
    rm = (m + 2**15) // 2**16 if m < 0x7FFF0000 else 0x7FFF
    r = _wrap32(math.floor(Fraction(_wrap64(x * rm), 2 ** (14 - s))))
    return math.floor(Fraction(_wrap32(r + 1), 2))


def _o_requantize(op, xs, graph):
    import numpy as np

    xf, yf = _fmt(graph, op.inputs[0]), _fmt(graph, op.output)
    if op.mode == "dyadic_s64":
        x = np.asarray(xs[0]).astype(object)
        lo = yf.raw_min if op.act_min is None else op.act_min
        hi = yf.raw_max if op.act_max is None else op.act_max
        out = np.empty(x.shape, dtype=object)
        for idx in np.ndindex(x.shape):
            c = idx[0] if len(op.multiplier) > 1 else 0
            r = o_cmsis_requantize_s64(int(x[idx]), int(op.multiplier[c]), int(op.shift[c]))
            out[idx] = min(max(r + op.out_offset, lo), hi)
        return out.tolist()
    if op.mode == "cast":
        return _map(lambda v: o_cast(v, frac_bits(xf), yf), _ints(xs[0]))
    x = np.asarray(xs[0]).astype(object)
    lo = yf.raw_min if op.act_min is None else op.act_min
    hi = yf.raw_max if op.act_max is None else op.act_max
    out = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(x.shape):
        c = idx[0] if len(op.multiplier) > 1 else 0
        r = o_cmsis_requantize(int(x[idx]), int(op.multiplier[c]), int(op.shift[c]), op.single_rounding)
        out[idx] = min(max(r + op.out_offset, lo), hi)
    return out.tolist()


def _clamp_of(op, graph):
    yf = _fmt(graph, op.output)
    return (yf.raw_min if op.act_min is None else op.act_min, yf.raw_max if op.act_max is None else op.act_max)


def _o_add_dyadic(op, xs, graph):
    """arm_elementwise_add_s8 from its documented arithmetic (C int32 steps wrap)."""
    lo, hi = _clamp_of(op, graph)
    sr = op.single_rounding

    def f(a, b):
        a1 = o_cmsis_requantize(
            _wrap32((a + op.input1_offset) * 2**op.left_shift), op.input1_multiplier, op.input1_shift, sr
        )
        b1 = o_cmsis_requantize(
            _wrap32((b + op.input2_offset) * 2**op.left_shift), op.input2_multiplier, op.input2_shift, sr
        )
        r = o_cmsis_requantize(_wrap32(a1 + b1), op.out_multiplier, op.out_shift, sr) + op.out_offset
        return min(max(r, lo), hi)

    return _map2(f, _ints(xs[0]), _ints(xs[1]))


def _o_mul_dyadic(op, xs, graph):
    """arm_elementwise_mul_s8 from its documented arithmetic."""
    lo, hi = _clamp_of(op, graph)

    def f(a, b):
        p = _wrap32((a + op.input1_offset) * (b + op.input2_offset))
        r = o_cmsis_requantize(p, op.out_multiplier, op.out_shift, op.single_rounding) + op.out_offset
        return min(max(r, lo), hi)

    return _map2(f, _ints(xs[0]), _ints(xs[1]))


ORACLES.update(
    {
        "add_dyadic": _o_add_dyadic,
        "mul_dyadic": _o_mul_dyadic,
        "batchnorm": _o_batchnorm,
        "clip": _o_clip,
        "maxpool": _o_maxpool,
        "avgpool": _o_avgpool,
        "global_avgpool": _o_global_avgpool,
        "concat": _o_concat,
        "lut": _o_lut,
        "requantize": _o_requantize,
    }
)


def _o_leaky_relu(op, xs, graph):
    xf, yf = _fmt(graph, op.inputs[0]), _fmt(graph, op.output)
    slope = Fraction(1, 2 ** int(op.shift))
    return _map(lambda v: o_cast_value(val(v, frac_bits(xf)) * (1 if v > 0 else slope), yf), _ints(xs[0]))


ORACLES["leaky_relu"] = _o_leaky_relu


def _o_patch_quant(op, xs, graph):
    """Per element: find its patch by scanning the grid edges, then divide (floor) instead of shifting."""
    x = _ints(xs[0])
    yf = _fmt(graph, op.output)
    lo, hi = int(yf.raw_min), int(yf.raw_max)
    base = int(lo if op.base is None else op.base)
    c, h, w = len(x), len(x[0]), len(x[0][0])
    rr, qq = op.grid

    def part(i, size, parts):
        return next(p for p in range(parts) if p * size // parts <= i < (p + 1) * size // parts)

    def one(v, r, col):
        p = part(r, h, rr) * qq + part(col, w, qq)
        b = int(op.bits[p])
        step = 2 ** (8 - b if op.shifts is None else int(op.shifts[p]))
        code = (int(v) - base + step // 2) // step if step > 1 else int(v) - base
        code = min(max(code, 0), 2**b - 1)
        return min(max(base + code * step, lo), hi)

    return [[[one(x[ch][r][col], r, col) for col in range(w)] for r in range(h)] for ch in range(c)]


ORACLES["patch_quant"] = _o_patch_quant
