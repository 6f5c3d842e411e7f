"""The portable CMSIS-NN runtime (mcu/runtime) against an independent integer model, both rounding builds.

Each kernel is called through ctypes on random shapes, paddings, strides, dilations, offsets and
per-channel multipliers; every output integer is compared with a numpy model whose requantisation is
``hwq.formats.requantize`` (the IR's dyadic arithmetic) and whose convolution is an im2col over an input
padded with the zero point. The requantisers themselves are checked on random int32 values against a
plain-Python transcription of the documented formulas.
"""

from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from hwq.formats import quantize_multiplier, requantize
from tests.mcu import cmsis as nn
from tests.mcu.conftest import need_tool

BUILDS = [pytest.param(False, id="double"), pytest.param(True, id="single")]


@pytest.fixture(params=BUILDS)
def lib(request):
    need_tool("gcc")
    return nn.runtime_lib(request.param), request.param


def _wrap32(v: int) -> int:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _requant_py(x: int, m: int, s: int, single: bool) -> int:
    """Plain-int transcription of REFERENCE.md's two CMSIS-NN requantisation builds."""
    if single:
        return _wrap32(_wrap32((x * m) >> (30 - s)) + 1) >> 1
    v = _wrap32(x << max(s, 0))
    h = _wrap32((v * m + (1 << 30)) >> 31)
    right = max(-s, 0)
    if right == 0:
        return h
    a = (abs(h) + (1 << (right - 1))) >> right
    return a if h >= 0 else -a


def _requant_s64_py(x: int, m: int, s: int) -> int:
    m16 = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
    return _wrap32(_wrap32((x * m16) >> (14 - s)) + 1) >> 1


def _scales(rng, n, acc_std, target=40.0):
    """Per-channel (multiplier, shift) arrays that map an accumulator of ``acc_std`` to about ``target``."""
    pairs = [quantize_multiplier(target / acc_std * rng.uniform(0.3, 3.0)) for _ in range(n)]
    return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)


def test_requantize_matches_formula(lib):
    rt, single = lib
    rng = np.random.default_rng(1 + single)
    n = 20000
    x = np.concatenate([rng.integers(-(1 << 31), 1 << 31, n // 2), rng.integers(-5000, 5000, n // 2)])
    x[:6] = [-(1 << 31), (1 << 31) - 1, 0, 1, -1, 1 << 20]
    x = x.astype(np.int32)
    m = rng.integers(1 << 30, 1 << 31, n).astype(np.int32)
    m[:50] = rng.integers(0, 1 << 31, 50)
    s = rng.integers(-31, 8, n).astype(np.int32)
    small = np.abs(x.astype(np.int64)) < 5000  # left shifts only where they do not wrap away everything
    s = np.where(small, s, np.minimum(s, 0)).astype(np.int32)
    out = np.zeros(n, np.int32)
    rt.hwq_test_requantize(nn.ptr(x, C.c_int32), n, nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32), nn.ptr(out, C.c_int32))
    want = [_requant_py(int(a), int(b), int(c), single) for a, b, c in zip(x, m, s)]
    assert out.tolist() == want
    assert np.array_equal(out, requantize(x.astype(np.int64), m, s, single_rounding=single))


def test_requantize_s64_matches_formula(lib):
    rt, _ = lib
    rng = np.random.default_rng(7)
    n = 20000
    x = rng.integers(-(1 << 47), 1 << 47, n).astype(np.int64)
    m = rng.integers(1 << 30, 1 << 31, n).astype(np.int32)
    m[:3] = [0x7FFF0000, 0x7FFEFFFF, 0x7FFFFFFF]
    s = rng.integers(-31, 1, n).astype(np.int32)
    out = np.zeros(n, np.int32)
    rt.hwq_test_requantize_s64(
        nn.ptr(x, C.c_int64), n, nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32), nn.ptr(out, C.c_int32)
    )
    assert out.tolist() == [_requant_s64_py(int(a), int(b), int(c)) for a, b, c in zip(x, m, s)]


def _out_size(i, k, s, p, d):
    return (i + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_model(x, w, bias, in_off, stride, pad, dil, groups, pad_value):
    """int64 conv (NHWC x OHWI, grouped) over x padded with ``pad_value``; returns the accumulators."""
    n, ih, iw, ic = x.shape
    oc, kh, kw, fc = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    oh, ow = _out_size(ih, kh, sh, ph, dh), _out_size(iw, kw, sw, pw, dw)
    xp = np.full((n, ih + 2 * ph + sh + dh * kh, iw + 2 * pw + sw + dw * kw, ic), pad_value, np.int64)
    xp[:, ph : ph + ih, pw : pw + iw] = x
    xp = xp + in_off
    acc = np.zeros((n, oh, ow, oc), np.int64) + (0 if bias is None else np.asarray(bias, np.int64))
    per = oc // groups
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, ky * dh : ky * dh + sh * oh : sh, kx * dw : kx * dw + sw * ow : sw][:, :oh, :ow]
            for g in range(groups):
                pg = patch[..., g * fc : (g + 1) * fc]
                wg = w[g * per : (g + 1) * per, ky, kx, :].astype(np.int64)
                acc[..., g * per : (g + 1) * per] += np.einsum("nhwc,oc->nhwo", pg, wg)
    return acc


CONV_CASES = [
    # (n, ih, iw, ic, oc, kh, kw, stride, pad, dil, groups)
    (1, 16, 16, 8, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (2, 9, 7, 3, 5, 3, 2, (2, 1), (1, 0), (1, 1), 1),
    (1, 11, 10, 4, 6, 3, 3, (1, 2), (2, 2), (2, 1), 1),
    (1, 8, 8, 6, 4, 1, 1, (1, 1), (0, 0), (1, 1), 2),
    (3, 5, 6, 1, 7, 5, 5, (1, 1), (2, 2), (1, 1), 1),
    (1, 5, 4, 32, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),  # int4 filter > 256 values: nibble-by-nibble path
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("wbits", [8, 4])
def test_convolve_s8_s4(lib, case, wbits):
    rt, single = lib
    n, ih, iw, ic, oc, kh, kw, stride, pad, dil, groups = case
    rng = np.random.default_rng(hash((case, wbits)) & 0xFFFF)
    in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-60, 60))
    x = rng.integers(-128, 128, (n, ih, iw, ic)).astype(np.int8)
    wlim = 8 if wbits == 4 else 128
    w = rng.integers(-wlim, wlim, (oc, kh, kw, ic // groups)).astype(np.int8)
    acc = _conv_model(x, w, None, in_off, stride, pad, dil, groups, -in_off)
    bias = (rng.integers(-500, 500, oc) - acc.mean(axis=(0, 1, 2))).astype(np.int32)  # centred, as calibrated
    acc = acc + bias
    m, s = _scales(rng, oc, float(acc.std()) + 1.0, target=25.0)
    act = (int(rng.integers(-128, -60)), int(rng.integers(60, 128)))
    want = np.clip(requantize(acc, m, s, single_rounding=single) + out_off, *act)
    out = np.zeros(want.shape, np.int8)
    params = nn.ConvParams(
        in_off,
        out_off,
        nn.Tile(stride[1], stride[0]),
        nn.Tile(pad[1], pad[0]),
        nn.Tile(dil[1], dil[0]),
        nn.Activation(*act),
    )
    quant = nn.PerChannel(nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32))
    wdata = nn.pack_s4(w) if wbits == 4 else w
    fn = rt.arm_convolve_wrapper_s4 if wbits == 4 else rt.arm_convolve_wrapper_s8
    status = fn(
        C.byref(nn.Context(None, 0)),
        C.byref(params),
        C.byref(quant),
        C.byref(nn.dims(n, ih, iw, ic)),
        nn.ptr(x, C.c_int8),
        C.byref(nn.dims(oc, kh, kw, ic // groups)),
        nn.ptr(wdata, C.c_int8),
        C.byref(nn.dims(1, 1, 1, oc)),
        nn.ptr(bias, C.c_int32),
        C.byref(nn.dims(n, *want.shape[1:])),
        nn.ptr(out, C.c_int8),
    )
    assert status == 0
    assert np.array_equal(out, want), f"{np.count_nonzero(out != want)} of {out.size} differ"
    assert len(np.unique(out)) > 20 or out.size < 200  # the scales exercise the range, not only the clamps


@pytest.mark.parametrize("bias32", [False, True])
def test_convolve_s16(lib, bias32):
    rt, single = lib
    rng = np.random.default_rng(11 + bias32)
    n, ih, iw, ic, oc, kh, kw = 2, 7, 6, 3, 5, 3, 3
    stride, pad, dil = (1, 2), (1, 1), (1, 1)
    x = rng.integers(-32768, 32768, (n, ih, iw, ic)).astype(np.int16)
    w = rng.integers(-128, 128, (oc, kh, kw, ic)).astype(np.int8)
    bias = rng.integers(-(1 << 20), 1 << 20, oc).astype(np.int32 if bias32 else np.int64)
    m, s = _scales(rng, oc, 20000.0 * 80 * np.sqrt(kh * kw * ic), target=9000.0)
    acc = _conv_model(x, w, bias, 0, stride, pad, dil, 1, 0)
    if bias32:
        r = requantize(acc, m, s, single_rounding=single)
    else:
        r = np.array([_requant_s64_py(int(a), int(m[i % oc]), int(s[i % oc])) for i, a in enumerate(acc.ravel())])
        r = r.reshape(acc.shape)
    want = np.clip(r, -32768, 32767)
    out = np.zeros(want.shape, np.int16)
    params = nn.ConvParams(
        0, 0, nn.Tile(stride[1], stride[0]), nn.Tile(pad[1], pad[0]), nn.Tile(1, 1), nn.Activation(-32768, 32767)
    )
    quant = nn.PerChannel(nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32))
    bd = nn.BiasData(bias.ctypes.data, bias32)
    status = rt.arm_convolve_wrapper_s16(
        C.byref(nn.Context(None, 0)),
        C.byref(params),
        C.byref(quant),
        C.byref(nn.dims(n, ih, iw, ic)),
        nn.ptr(x, C.c_int16),
        C.byref(nn.dims(oc, kh, kw, ic)),
        nn.ptr(w, C.c_int8),
        C.byref(nn.dims(1, 1, 1, oc)),
        C.byref(bd),
        C.byref(nn.dims(n, *want.shape[1:])),
        nn.ptr(out, C.c_int16),
    )
    assert status == 0
    assert np.array_equal(out, want), f"{np.count_nonzero(out != want)} of {out.size} differ"
    assert len(np.unique(out)) > 100


DW_CASES = [
    # (n, ih, iw, ic, ch_mult, kh, kw, stride, pad, dil)
    (1, 12, 12, 8, 1, 3, 3, (1, 1), (1, 1), (1, 1)),
    (2, 9, 8, 3, 2, 3, 3, (2, 2), (1, 1), (1, 1)),
    (1, 10, 9, 5, 3, 2, 3, (1, 2), (0, 1), (2, 2)),
    (1, 6, 5, 40, 3, 3, 3, (1, 1), (1, 1), (1, 1)),  # int4 filter > 1024 values: nibble-by-nibble path
]


@pytest.mark.parametrize("case", DW_CASES)
@pytest.mark.parametrize("wbits", [8, 4])
def test_depthwise_s8_s4(lib, case, wbits):
    rt, single = lib
    n, ih, iw, ic, cm, kh, kw, stride, pad, dil = case
    oc = ic * cm
    rng = np.random.default_rng(hash((case, wbits, 3)) & 0xFFFF)
    in_off, out_off = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, (n, ih, iw, ic)).astype(np.int8)
    wlim = 8 if wbits == 4 else 128
    w = rng.integers(-wlim, wlim, (1, kh, kw, oc)).astype(np.int8)
    bias = rng.integers(-3000, 3000, oc).astype(np.int32)
    # depthwise = grouped conv with groups = ic over an input repeated ch_mult times per channel
    xr = np.repeat(x, cm, axis=3)
    wo = np.transpose(w, (3, 1, 2, 0))  # (oc, kh, kw, 1)
    acc = _conv_model(xr, wo, bias, in_off, stride, pad, dil, oc, -in_off)
    m, s = _scales(rng, oc, float(acc.std()) + 1.0, target=25.0)
    want = np.clip(requantize(acc, m, s, single_rounding=single) + out_off, -128, 127)
    out = np.zeros(want.shape, np.int8)
    params = nn.DwConvParams(
        in_off,
        out_off,
        cm,
        nn.Tile(stride[1], stride[0]),
        nn.Tile(pad[1], pad[0]),
        nn.Tile(dil[1], dil[0]),
        nn.Activation(-128, 127),
    )
    quant = nn.PerChannel(nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32))
    wdata = nn.pack_s4(w) if wbits == 4 else w
    fn = rt.arm_depthwise_conv_wrapper_s4 if wbits == 4 else rt.arm_depthwise_conv_wrapper_s8
    status = fn(
        C.byref(nn.Context(None, 0)),
        C.byref(params),
        C.byref(quant),
        C.byref(nn.dims(n, ih, iw, ic)),
        nn.ptr(x, C.c_int8),
        C.byref(nn.dims(1, kh, kw, oc)),
        nn.ptr(wdata, C.c_int8),
        C.byref(nn.dims(1, 1, 1, oc)),
        nn.ptr(bias, C.c_int32),
        C.byref(nn.dims(n, *want.shape[1:])),
        nn.ptr(out, C.c_int8),
    )
    assert status == 0
    assert np.array_equal(out, want), f"{np.count_nonzero(out != want)} of {out.size} differ"


@pytest.mark.parametrize("kind", ["s8", "s4", "per_channel", "wrapper", "s16"])
@pytest.mark.parametrize("depth,out_c", [(64, 10), (33, 7), (300, 5), (1100, 3)])
def test_fully_connected(lib, kind, depth, out_c):
    rt, single = lib
    rng = np.random.default_rng(depth * 31 + out_c + len(kind))
    batches = 40
    s16 = kind == "s16"
    in_off = 0 if s16 else int(rng.integers(-127, 129))
    f_off = 0 if s16 or kind == "s4" else int(rng.integers(-3, 4))
    out_off = 0 if s16 else int(rng.integers(-128, 128))
    lim = 32768 if s16 else 128
    x = rng.integers(-lim, lim, (batches, depth)).astype(np.int16 if s16 else np.int8)
    wlim = 8 if kind == "s4" else 128
    w = rng.integers(-wlim, wlim, (out_c, depth)).astype(np.int8)
    bias = rng.integers(-9000, 9000, out_c).astype(np.int64 if s16 else np.int32)
    per_channel = kind in ("per_channel", "wrapper")
    acc = bias + (x.astype(np.int64) + in_off) @ (w.astype(np.int64) + f_off).T
    m, s = _scales(rng, out_c if per_channel else 1, float(acc.std()) + 1.0, target=9000.0 if s16 else 30.0)
    if s16:
        r = np.array([[_requant_s64_py(int(a), int(m[0]), int(s[0])) for a in row] for row in acc])
        want = np.clip(r, -32768, 32767)
    else:
        want = np.clip(requantize(acc, m, s, single_rounding=single) + out_off, -128, 127)
    out = np.zeros(want.shape, x.dtype)
    fc = nn.FcParams(in_off, f_off, out_off, nn.Activation(-lim, lim - 1))
    ctx = C.byref(nn.Context(None, 0))
    common = (C.byref(nn.dims(batches, 1, 1, depth)),)
    tail_w = nn.pack_s4(w) if kind == "s4" else w
    fdims = C.byref(nn.dims(depth, 1, 1, out_c))
    bdims = C.byref(nn.dims(1, 1, 1, out_c))
    odims = C.byref(nn.dims(batches, 1, 1, out_c))
    if kind in ("s8", "s4", "s16"):
        quant = nn.PerTensor(int(m[0]), int(s[0]))
    elif kind == "per_channel":
        quant = nn.PerChannel(nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32))
    else:
        quant = nn.QuantParams(nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32), 1)
    fn = {
        "s8": rt.arm_fully_connected_s8,
        "s4": rt.arm_fully_connected_s4,
        "s16": rt.arm_fully_connected_s16,
        "per_channel": rt.arm_fully_connected_per_channel_s8,
        "wrapper": rt.arm_fully_connected_wrapper_s8,
    }[kind]
    xt, bt = (C.c_int16, C.c_int64) if s16 else (C.c_int8, C.c_int32)
    status = fn(
        ctx,
        C.byref(fc),
        C.byref(quant),
        *common,
        nn.ptr(x, xt),
        fdims,
        nn.ptr(tail_w, C.c_int8),
        bdims,
        nn.ptr(bias, bt),
        odims,
        nn.ptr(out, xt),
    )
    assert status == 0
    assert np.array_equal(out, want), f"{np.count_nonzero(out != want)} of {out.size} differ"
    assert len(np.unique(out)) > 20


POOL_CASES = [
    # (n, ih, iw, c, kh, kw, stride, pad)
    (1, 16, 16, 8, 2, 2, (2, 2), (0, 0)),
    (2, 9, 7, 3, 3, 3, (2, 2), (1, 1)),
    (1, 6, 5, 4, 3, 2, (1, 1), (1, 0)),
    (1, 7, 7, 5, 7, 7, (1, 1), (0, 0)),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("kind", ["max_s8", "avg_s8", "max_s16", "avg_s16"])
def test_pool(lib, case, kind):
    rt, _ = lib
    n, ih, iw, ch, kh, kw, (sh, sw), (ph, pw) = case
    rng = np.random.default_rng(hash((case, kind)) & 0xFFFF)
    s16 = kind.endswith("s16")
    lo, hi = (-32768, 32767) if s16 else (-128, 127)
    x = rng.integers(lo, hi + 1, (n, ih, iw, ch)).astype(np.int16 if s16 else np.int8)
    oh, ow = _out_size(ih, kh, sh, ph, 1), _out_size(iw, kw, sw, pw, 1)
    act = (lo + 20, hi - 20)
    want = np.zeros((n, oh, ow, ch), np.int64)
    for y in range(oh):
        for xx in range(ow):
            y0, x0 = y * sh - ph, xx * sw - pw
            win = x[:, max(y0, 0) : min(y0 + kh, ih), max(x0, 0) : min(x0 + kw, iw)].astype(np.int64)
            if kind.startswith("max"):
                want[:, y, xx] = win.max(axis=(1, 2))
            else:
                cnt = win.shape[1] * win.shape[2]
                tot = win.sum(axis=(1, 2))
                want[:, y, xx] = np.sign(tot) * ((np.abs(tot) * 2 + cnt) // (2 * cnt))  # half away from zero
    want = np.clip(want, *act)
    out = np.zeros(want.shape, x.dtype)
    params = nn.PoolParams(nn.Tile(sw, sh), nn.Tile(pw, ph), nn.Activation(*act))
    fn = {
        "max_s8": rt.arm_max_pool_s8,
        "avg_s8": rt.arm_avgpool_s8,
        "max_s16": rt.arm_max_pool_s16,
        "avg_s16": rt.arm_avgpool_s16,
    }[kind]
    t = C.c_int16 if s16 else C.c_int8
    status = fn(
        C.byref(nn.Context(None, 0)),
        C.byref(params),
        C.byref(nn.dims(n, ih, iw, ch)),
        nn.ptr(x, t),
        C.byref(nn.dims(1, kh, kw, 1)),
        C.byref(nn.dims(n, oh, ow, ch)),
        nn.ptr(out, t),
    )
    assert status == 0
    assert np.array_equal(out, want), f"{np.count_nonzero(out != want)} of {out.size} differ"


@pytest.mark.parametrize("s16", [False, True])
def test_elementwise_add_mul(lib, s16):
    rt, single = lib
    rng = np.random.default_rng(5 + s16)
    size = 4000
    lo, hi = (-32768, 32767) if s16 else (-128, 127)
    dt, ct = (np.int16, C.c_int16) if s16 else (np.int8, C.c_int8)
    a = rng.integers(lo, hi + 1, size).astype(dt)
    b = rng.integers(lo, hi + 1, size).astype(dt)
    off1, off2, out_off = (0, 0, 0) if s16 else tuple(int(v) for v in rng.integers(-127, 128, 3))
    left = 15 if s16 else 20
    (m1,), (s1,) = _scales(rng, 1, 1.0, target=0.4)
    (m2,), (s2,) = _scales(rng, 1, 1.0, target=0.3)
    (mo,), (so,) = _scales(rng, 1, float(1 << left), target=1.2)
    rq = lambda v, mm, ss: requantize(v, mm, ss, single_rounding=single)  # noqa: E731
    x1 = rq((a.astype(np.int64) + off1) << left, m1, s1)
    x2 = rq((b.astype(np.int64) + off2) << left, m2, s2)
    want = np.clip(rq(x1 + x2, mo, so) + out_off, lo, hi)
    out = np.zeros(size, dt)
    add = rt.arm_elementwise_add_s16 if s16 else rt.arm_elementwise_add_s8
    status = add(
        nn.ptr(a, ct),
        nn.ptr(b, ct),
        off1,
        int(m1),
        int(s1),
        off2,
        int(m2),
        int(s2),
        left,
        nn.ptr(out, ct),
        out_off,
        int(mo),
        int(so),
        lo,
        hi,
        size,
    )
    assert status == 0 and np.array_equal(out, want), f"add: {np.count_nonzero(out != want)} differ"
    (mm,), (sm,) = _scales(rng, 1, float(hi) * hi / 3, target=hi / 2)
    want = np.clip(rq((a.astype(np.int64) + off1) * (b.astype(np.int64) + off2), mm, sm) + out_off, lo, hi)
    mul = rt.arm_elementwise_mul_s16 if s16 else rt.arm_elementwise_mul_s8
    status = mul(nn.ptr(a, ct), nn.ptr(b, ct), off1, off2, nn.ptr(out, ct), out_off, int(mm), int(sm), lo, hi, size)
    assert status == 0 and np.array_equal(out, want), f"mul: {np.count_nonzero(out != want)} differ"
    assert len(np.unique(out)) > 50


def test_relu(lib):
    rt, _ = lib
    x = np.arange(-128, 128, dtype=np.int8)
    y = x.copy()
    rt.arm_relu6_s8(nn.ptr(y, C.c_int8), C.c_uint16(y.size))
    assert np.array_equal(y, np.clip(x, 0, 6))
    y = x.copy()
    rt.arm_relu_q7(nn.ptr(y, C.c_int8), C.c_uint16(y.size))
    assert np.array_equal(y, np.maximum(x, 0))
    z = np.arange(-300, 300, dtype=np.int16)
    w = z.copy()
    rt.arm_relu_q15(nn.ptr(w, C.c_int16), C.c_uint16(w.size))
    assert np.array_equal(w, np.maximum(z, 0))


def test_bad_geometry_is_an_argument_error(lib):
    rt, _ = lib
    x = np.zeros(16, np.int8)
    m = np.ones(3, np.int32)
    params = nn.DwConvParams(0, 0, 2, nn.Tile(1, 1), nn.Tile(0, 0), nn.Tile(1, 1), nn.Activation(-128, 127))
    quant = nn.PerChannel(nn.ptr(m, C.c_int32), nn.ptr(m, C.c_int32))
    status = rt.arm_depthwise_conv_wrapper_s8(
        C.byref(nn.Context(None, 0)),
        C.byref(params),
        C.byref(quant),
        C.byref(nn.dims(1, 2, 2, 2)),
        nn.ptr(x, C.c_int8),
        C.byref(nn.dims(1, 1, 1, 3)),
        nn.ptr(x, C.c_int8),
        C.byref(nn.dims(1, 1, 1, 3)),
        None,
        C.byref(nn.dims(1, 2, 2, 3)),
        nn.ptr(x, C.c_int8),
    )
    assert status == -1  # ARM_CMSIS_NN_ARG_ERROR: 3 output channels != 2 inputs x ch_mult 2
