"""The portable CMSIS-NN runtime against the golden interpreter ``hwq.ir.run`` on one-layer IR graphs.

Each graph is the IR form of one CMSIS-NN call (helper A's contract, /work/notes/ir_contract.md): conv2d /
dense with ``input_offset`` -> int32 accumulator -> ``requantize`` dyadic (per-channel, ``out_offset``,
clamps, either rounding build); int4 weights; int16 dense -> ``requantize`` dyadic_s64; ``avgpool``
mode cmsis; ``maxpool``; ``add_dyadic`` / ``mul_dyadic``. The kernel runs through ctypes on the same raw
integers (the IR's (C, H, W) tensors transposed to CMSIS-NN's HWC and OHWI) and every output integer is
compared, thousands per test.
"""

from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from hwq.formats import FixedFormat, parse, quantize_multiplier
from hwq.ir import Graph, run
from hwq.ir import ops as O
from hwq.ir.passes import validate
from tests.mcu import cmsis as nn
from tests.mcu.conftest import need_tool

ACC32 = FixedFormat(32, 32, True, "TRN", "WRAP")
ACC64 = FixedFormat(64, 64, True, "TRN", "WRAP")
I8 = parse("int<8>")


@pytest.fixture(params=[False, True], ids=["double", "single"])
def build(request):
    need_tool("gcc")
    return nn.runtime_lib(request.param), request.param


def _multipliers(rng, n, acc_std, target):
    pairs = [quantize_multiplier(target / acc_std * rng.uniform(0.5, 2.0)) for _ in range(n)]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def _acc_std(graph, x, name):
    """Standard deviation of the accumulator tensor ``name`` on inputs ``x`` (to choose useful scales)."""
    return float(np.std(run(graph, x).raw[name])) + 1.0


def _conv_graph(rng, cin, h, w, cout, k, stride, pad, dil, groups, wbits, single, x):
    g = Graph("conv", ["x"], ["y"])
    g.add_tensor("x", (cin, h, w), I8)
    ho = (h + pad[0] + pad[1] - dil[0] * (k[0] - 1) - 1) // stride[0] + 1
    wo = (w + pad[2] + pad[3] - dil[1] * (k[1] - 1) - 1) // stride[1] + 1
    g.add_tensor("acc", (cout, ho, wo), ACC32)
    g.add_tensor("y", (cout, ho, wo), I8)
    lim = (1 << (wbits - 1)) - 1
    weight = rng.integers(-lim, lim + 1, (cout, cin // groups, *k))
    in_off = int(rng.integers(-127, 129))
    bias = rng.integers(-2000, 2000, cout)
    wf = parse(f"int<{wbits},narrow>")
    g.add_op(O.Conv2d("c", ["x"], "acc", weight, bias, wf, parse("int<32>"), ACC32, stride, pad, dil, groups, in_off))
    m, s = _multipliers(rng, cout, _acc_std(validate(_only_acc(g)), x, "acc"), 30.0)
    g.add_op(O.Requantize("rq", ["acc"], "y", "dyadic", m, s, single, int(rng.integers(-30, 30)), -128, 127))
    return validate(g)


def _only_acc(g: Graph) -> Graph:
    """The graph up to the accumulator (to size the requantisation from real accumulator values)."""
    h = Graph(g.name + "_acc", list(g.inputs), ["acc"])
    for n in g.inputs:
        h.add_tensor(n, g.tensor(n).shape, g.tensor(n).fmt)
    h.add_tensor("acc", g.tensor("acc").shape, g.tensor("acc").fmt)
    h.add_op(g.ops[0])
    return h


CONV = [
    # cin, h, w, cout, kernel, stride, pad (t, b, l, r), dilation, groups
    (8, 16, 16, 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (3, 9, 11, 5, (3, 2), (2, 1), (1, 1, 0, 1), (1, 2), 1),
    (4, 10, 10, 6, (3, 3), (2, 2), (2, 2, 2, 2), (2, 2), 2),
    (6, 8, 9, 6, (3, 3), (1, 2), (1, 1, 1, 1), (1, 1), 6),  # depthwise, ch_mult 1
    (3, 7, 8, 6, (2, 3), (2, 2), (0, 1, 1, 1), (1, 1), 3),  # depthwise, ch_mult 2
]


@pytest.mark.parametrize("case", CONV, ids=[f"conv{i}" for i in range(len(CONV))])
@pytest.mark.parametrize("wbits", [8, 4])
def test_conv_and_depthwise_equal_the_interpreter(build, case, wbits):
    rt, single = build
    cin, h, w, cout, k, stride, pad, dil, groups = case
    rng = np.random.default_rng(sum(map(hash, (str(case), wbits))) & 0xFFFFFF)
    n = 4
    x = {"x": rng.integers(-128, 128, (n, cin, h, w))}
    g = _conv_graph(rng, cin, h, w, cout, k, stride, pad, dil, groups, wbits, single, x)
    conv, rq = g.ops
    want = run(g, x).raw["y"]  # (n, cout, ho, wo)
    xs = np.ascontiguousarray(x["x"].transpose(0, 2, 3, 1)).astype(np.int8)
    out = np.zeros((n, want.shape[2], want.shape[3], cout), np.int8)
    m, s = rq.multiplier.astype(np.int32), rq.shift.astype(np.int32)
    bias = conv.bias.astype(np.int32)
    quant = nn.PerChannel(nn.ptr(m, C.c_int32), nn.ptr(s, C.c_int32))
    tile = lambda p: nn.Tile(p[1], p[0])  # noqa: E731  (IR (h, w) -> CMSIS-NN {w, h})
    act = nn.Activation(rq.act_min, rq.act_max)
    depthwise = groups == cin and groups > 1
    if depthwise:
        wt = np.ascontiguousarray(conv.weight[:, 0].transpose(1, 2, 0))[None]  # [1, kh, kw, cout]
        params = nn.DwConvParams(
            conv.input_offset, rq.out_offset, cout // cin, tile(stride), tile(pad[::2]), tile(dil), act
        )
        fn = rt.arm_depthwise_conv_wrapper_s4 if wbits == 4 else rt.arm_depthwise_conv_wrapper_s8
        fdims = nn.dims(1, k[0], k[1], cout)
    else:
        wt = np.ascontiguousarray(conv.weight.transpose(0, 2, 3, 1))  # OHWI
        params = nn.ConvParams(conv.input_offset, rq.out_offset, tile(stride), tile(pad[::2]), tile(dil), act)
        fn = rt.arm_convolve_wrapper_s4 if wbits == 4 else rt.arm_convolve_wrapper_s8
        fdims = nn.dims(cout, k[0], k[1], cin // groups)
    wdata = nn.pack_s4(wt) if wbits == 4 else wt.astype(np.int8)
    status = fn(
        C.byref(nn.Context(None, 0)),
        C.byref(params),
        C.byref(quant),
        C.byref(nn.dims(n, h, w, cin)),
        nn.ptr(xs, C.c_int8),
        C.byref(fdims),
        nn.ptr(wdata, C.c_int8),
        C.byref(nn.dims(1, 1, 1, cout)),
        nn.ptr(bias, C.c_int32),
        C.byref(nn.dims(*out.shape)),
        nn.ptr(out, C.c_int8),
    )
    assert status == 0
    got = out.transpose(0, 3, 1, 2).astype(np.int64)
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {want.size} differ"
    assert len(np.unique(want)) > 30


@pytest.mark.parametrize("kind", ["s8", "s4", "per_channel", "s16"])
def test_dense_equals_the_interpreter(build, kind):
    rt, single = build
    rng = np.random.default_rng(len(kind) * 7 + single)
    n, depth, out_c = 300, 37, 9
    s16 = kind == "s16"
    xf = parse("int<16>") if s16 else I8
    g = Graph("fc", ["x"], ["y"])
    g.add_tensor("x", (depth,), xf)
    g.add_tensor("acc", (out_c,), ACC64 if s16 else ACC32)
    g.add_tensor("y", (out_c,), xf)
    wbits = 4 if kind == "s4" else 8
    lim = (1 << (wbits - 1)) - 1
    weight = rng.integers(-lim, lim + 1, (out_c, depth))
    bias = rng.integers(-5000, 5000, out_c)
    in_off = 0 if s16 else int(rng.integers(-127, 129))
    g.add_op(
        O.Dense(
            "d",
            ["x"],
            "acc",
            weight,
            bias,
            parse(f"int<{wbits},narrow>"),
            ACC64 if s16 else parse("int<32>"),
            ACC64 if s16 else ACC32,
            in_off,
        )
    )
    x = {"x": xf.random_raw(rng, (n, depth)) if hasattr(xf, "random_raw") else rng.integers(-128, 128, (n, depth))}
    std = _acc_std(validate(_only_acc(g)), x, "acc")
    per = out_c if kind == "per_channel" else 1
    m, s = _multipliers(rng, per, std, 9000.0 if s16 else 30.0)
    if s16:
        g.add_op(O.Requantize("rq", ["acc"], "y", "dyadic_s64", m, s))
    else:
        g.add_op(O.Requantize("rq", ["acc"], "y", "dyadic", m, s, single, int(rng.integers(-30, 30)), -128, 127))
    validate(g)
    rq = g.ops[1]
    want = run(g, x).raw["y"]
    dt, ct, bt, cbt = (np.int16, C.c_int16, np.int64, C.c_int64) if s16 else (np.int8, C.c_int8, np.int32, C.c_int32)
    xs = x["x"].astype(dt)
    out = np.zeros((n, out_c), dt)
    b = bias.astype(bt)
    info = np.iinfo(dt)
    fc = nn.FcParams(
        in_off,
        0,
        0 if s16 else rq.out_offset,
        nn.Activation(info.min if s16 else rq.act_min, info.max if s16 else rq.act_max),
    )
    m32, s32 = m.astype(np.int32), s.astype(np.int32)
    if kind == "per_channel":
        quant, fn = nn.PerChannel(nn.ptr(m32, C.c_int32), nn.ptr(s32, C.c_int32)), rt.arm_fully_connected_per_channel_s8
    else:
        quant = nn.PerTensor(int(m[0]), int(s[0]))
        fn = {"s8": rt.arm_fully_connected_s8, "s4": rt.arm_fully_connected_s4, "s16": rt.arm_fully_connected_s16}[kind]
    wdata = nn.pack_s4(weight) if kind == "s4" else weight.astype(np.int8)
    status = fn(
        C.byref(nn.Context(None, 0)),
        C.byref(fc),
        C.byref(quant),
        C.byref(nn.dims(n, 1, 1, depth)),
        nn.ptr(xs, ct),
        C.byref(nn.dims(depth, 1, 1, out_c)),
        nn.ptr(wdata, C.c_int8),
        C.byref(nn.dims(1, 1, 1, out_c)),
        nn.ptr(b, cbt),
        C.byref(nn.dims(n, 1, 1, out_c)),
        nn.ptr(out, ct),
    )
    assert status == 0
    assert np.array_equal(out.astype(np.int64), want), f"{np.count_nonzero(out != want)} of {want.size} differ"
    assert len(np.unique(want)) > 30


POOLS = [  # c, h, w, kernel, stride, pad (t, b, l, r)
    (4, 16, 16, (2, 2), (2, 2), (0, 0, 0, 0)),
    (3, 9, 7, (3, 3), (2, 2), (1, 1, 1, 1)),
    (5, 6, 6, (6, 6), (1, 1), (0, 0, 0, 0)),
    (2, 7, 8, (3, 2), (1, 2), (1, 0, 0, 1)),
]


@pytest.mark.parametrize("case", POOLS, ids=[f"pool{i}" for i in range(len(POOLS))])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_equal_the_interpreter(build, case, kind):
    rt, _ = build
    c, h, w, k, st, pad = case
    rng = np.random.default_rng(hash((case, kind)) & 0xFFFF)
    ho = (h + pad[0] + pad[1] - k[0]) // st[0] + 1
    wo = (w + pad[2] + pad[3] - k[1]) // st[1] + 1
    f = parse("int<8,scale=0.1,zp=3>")
    g = Graph("p", ["x"], ["y"])
    g.add_tensor("x", (c, h, w), f)
    g.add_tensor("y", (c, ho, wo), f)
    act = (-100, 90)
    if kind == "avg":
        g.add_op(O.AvgPool("ap", ["x"], "y", k, st, pad, None, 1, 0, "cmsis", *act))
    else:
        g.add_op(O.MaxPool("mp", ["x"], "y", k, st, pad))
        act = (-128, 127)
    validate(g)
    n = 20
    x = {"x": rng.integers(-128, 128, (n, c, h, w))}
    want = run(g, x).raw["y"]
    xs = np.ascontiguousarray(x["x"].transpose(0, 2, 3, 1)).astype(np.int8)
    out = np.zeros((n, ho, wo, c), np.int8)
    params = nn.PoolParams(nn.Tile(st[1], st[0]), nn.Tile(pad[2], pad[0]), nn.Activation(*act))
    fn = rt.arm_avgpool_s8 if kind == "avg" else rt.arm_max_pool_s8
    status = fn(
        C.byref(nn.Context(None, 0)),
        C.byref(params),
        C.byref(nn.dims(n, h, w, c)),
        nn.ptr(xs, C.c_int8),
        C.byref(nn.dims(1, k[0], k[1], 1)),
        C.byref(nn.dims(n, ho, wo, c)),
        nn.ptr(out, C.c_int8),
    )
    assert status == 0
    got = out.transpose(0, 3, 1, 2).astype(np.int64)
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {want.size} differ"


@pytest.mark.parametrize("kind", ["add", "mul"])
def test_elementwise_equal_the_interpreter(build, kind):
    rt, single = build
    rng = np.random.default_rng(3 + single + (kind == "mul"))
    size = 3000
    g = Graph(kind, ["p", "q"], ["y"])
    for name in ("p", "q", "y"):
        g.add_tensor(name, (size,), I8)
    off1, off2 = (int(v) for v in rng.integers(-127, 128, 2))
    out_off = int(rng.integers(-30, 30))
    q31 = lambda scale: quantize_multiplier(scale)  # noqa: E731
    if kind == "add":
        (m1, s1), (m2, s2), (mo, so) = q31(0.37), q31(0.21), q31(1.3 / (1 << 20))
        g.add_op(O.AddDyadic("a", ["p", "q"], "y", off1, m1, s1, off2, m2, s2, 20, mo, so, out_off, -120, 110, single))
    else:
        mo, so = q31(1 / 170.0)
        g.add_op(O.MulDyadic("m", ["p", "q"], "y", off1, off2, mo, so, out_off, -120, 110, single))
    validate(g)
    x = {"p": rng.integers(-128, 128, (1, size)), "q": rng.integers(-128, 128, (1, size))}
    want = run(g, x).raw["y"][0]
    a, b = x["p"][0].astype(np.int8), x["q"][0].astype(np.int8)
    out = np.zeros(size, np.int8)
    if kind == "add":
        status = rt.arm_elementwise_add_s8(
            nn.ptr(a, C.c_int8),
            nn.ptr(b, C.c_int8),
            off1,
            m1,
            s1,
            off2,
            m2,
            s2,
            20,
            nn.ptr(out, C.c_int8),
            out_off,
            mo,
            so,
            -120,
            110,
            size,
        )
    else:
        status = rt.arm_elementwise_mul_s8(
            nn.ptr(a, C.c_int8),
            nn.ptr(b, C.c_int8),
            off1,
            off2,
            nn.ptr(out, C.c_int8),
            out_off,
            mo,
            so,
            -120,
            110,
            size,
        )
    assert status == 0
    assert np.array_equal(out.astype(np.int64), want), f"{np.count_nonzero(out != want)} of {size} differ"
    assert len(np.unique(want)) > 50
