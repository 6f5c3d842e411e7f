"""CMSIS-NN-profile IR graphs, hand-built and random (seeded): the MCU tests' models and the models
``hwq cost calibrate`` links to fit a Cortex-M target's flash table (``hwq.cost.mcu_calibrate``).

``random_cmsis_graph(seed, n_layers)``: 1-5 layers of convolutions (int8 / int4 weights), depthwise, pools,
residual add / mul and dense heads; ``s16_graph``: int16 activations; ``dense_graph`` / ``conv_graph``: small
hand-built layers. Every weight and requantiser is drawn from a seeded generator, so a seed names a model.
"""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat, parse
from hwq.ir.graph import Graph
from hwq.ir.ops import Conv2d, Dense, Flatten, MaxPool, ReLU, Requantize

ACC = FixedFormat(32, 32, True, "TRN", "WRAP")
I8 = "fixed<8,8,TRN,SAT>"


def _rq(g, name, x, y, c, rng, single, act=(None, None), shape=None, fmt=I8):
    t = g.tensor(x)
    g.add_tensor(y, shape or t.shape, fmt)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=(c,), endpoint=True, dtype=np.int64)
    shift = rng.integers(-10, -4, size=(c,), endpoint=True, dtype=np.int64)
    off = int(rng.integers(-20, 20))
    g.add_op(Requantize(name, [x], y, "dyadic", mult, shift, single, off, act[0], act[1]))
    return y


def dense_graph(seed=0, n=24, m=10, single=False, per_channel=False, name="dense", in_fmt=I8, relu=True):
    """int8 dense -> dyadic requantize (act clamp) [-> relu]."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (n,), in_fmt)
    g.add_tensor("acc", (m,), ACC)
    w = rng.integers(-127, 128, size=(m, n), dtype=np.int64)
    b = rng.integers(-5000, 5000, size=(m,), dtype=np.int64)
    g.add_op(Dense("fc", ["x"], "acc", w, b, parse("fixed<8,8>"), ACC, ACC))
    y = _rq(g, "fc_rq", "acc", "y", m if per_channel else 1, rng, single)
    if relu:
        g.add_tensor("z", (m,), I8)
        g.add_op(ReLU("relu", [y], "z"))
        y = "z"
    g.outputs = [y]
    g.validate()
    return g


def conv_graph(seed=0, cin=3, h=7, w=6, cout=4, k=3, stride=(1, 1), padding=(1, 1, 1, 1), groups=1, single=False,
               pool=True, dense=True, name="conv", wbits=8):  # fmt: skip
    """conv2d (or depthwise) -> requantize -> [maxpool] -> flatten -> [dense -> requantize]."""
    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    g.add_tensor("x", (cin, h, w), I8)
    lim = 8 if wbits == 4 else 128
    wt = rng.integers(-lim + 1, lim, size=(cout, cin // groups, k, k), dtype=np.int64)
    b = rng.integers(-3000, 3000, size=(cout,), dtype=np.int64)
    ho = (h + padding[0] + padding[1] - k) // stride[0] + 1
    wo = (w + padding[2] + padding[3] - k) // stride[1] + 1
    g.add_tensor("acc", (cout, ho, wo), ACC)
    wf = parse("fixed<4,4>") if wbits == 4 else parse("fixed<8,8>")
    g.add_op(Conv2d("conv", ["x"], "acc", wt, b, wf, ACC, ACC, stride, padding, (1, 1), groups))
    y = _rq(g, "conv_rq", "acc", "c1", cout, rng, single, act=(-100, 120))
    if pool and ho >= 2 and wo >= 2:
        po = ((ho - 2) // 2 + 1, (wo - 2) // 2 + 1)
        g.add_tensor("p1", (cout, *po), I8)
        g.add_op(MaxPool("pool", [y], "p1", (2, 2), (2, 2), (0, 0, 0, 0)))
        y = "p1"
    n = int(np.prod(g.tensor(y).shape))
    g.add_tensor("f", (n,), I8)
    g.add_op(Flatten("flat", [y], "f"))
    y = "f"
    if dense:
        g.add_tensor("acc2", (5,), ACC)
        w2 = rng.integers(-127, 128, size=(5, n), dtype=np.int64)
        g.add_op(Dense("fc", ["f"], "acc2", w2, rng.integers(-999, 999, size=(5,)), parse("fixed<8,8>"), ACC, ACC))
        y = _rq(g, "fc_rq", "acc2", "out", 1, rng, single)
    g.outputs = [y]
    g.validate()
    return g


# ---------------------------------------------------------------------------------------------- random graphs
class _R:
    """Random CMSIS-style graph builder state: int8/uint8 affine activations, per-channel requantisation."""

    def __init__(self, seed: int, single: bool):
        self.rng = np.random.default_rng(seed)
        self.single = single
        self.g = None
        self.n = 0

    def ri(self, lo, hi):
        return int(self.rng.integers(lo, hi, endpoint=True))

    def name(self, kind):
        self.n += 1
        return f"{kind}{self.n}"

    def act_fmt(self):
        return "uint<8>" if self.rng.random() < 0.3 else "int<8>"

    def in_offset(self, x):
        f = self.g.tensor(x).fmt
        return (-128 if not f.signed else 0) + self.ri(-12, 12)

    def out_params(self, fmt):
        lo, hi = (0, 255) if fmt == "uint<8>" else (-128, 127)
        mid = (lo + hi) // 2
        off = mid + self.ri(-30, 30)
        act = (None, None)
        if self.rng.random() < 0.4:
            a, b = sorted(self.ri(lo, hi) for _ in range(2))
            act = (a, max(b, a))
        return off, act


def _rnd_requant(r: _R, acc: str, c: int, n_terms: int, shape) -> str:
    fmt = r.act_fmt()
    off, act = r.out_params(fmt)
    y = r.name("t")
    r.g.add_tensor(y, shape, fmt)
    mag = max(np.sqrt(n_terms) * 127 * 90, 1.0)
    base = -int(round(np.log2(mag / 50)))
    mult = r.rng.integers(1 << 30, (1 << 31) - 1, size=(c,), endpoint=True, dtype=np.int64)
    shift = np.clip(base + r.rng.integers(-1, 1, size=(c,), endpoint=True), -31, 30).astype(np.int64)
    r.g.add_op(Requantize(r.name("rq"), [acc], y, "dyadic", mult, shift, r.single, off, act[0], act[1]))
    return y


def _rnd_conv(r: _R, x: str, depthwise: bool = False, same: bool = False) -> str:
    from hwq.ir.ops import Conv2d

    cin, h, w = r.g.tensor(x).shape
    k = r.ri(1, min(3, h, w))
    if same:
        k, stride, pad = 3 if min(h, w) >= 3 else 1, (1, 1), None
        p = (k - 1) // 2
        pad = (p, p, p, p)
    else:
        stride = (r.ri(1, 2), r.ri(1, 2))
        pad = tuple(r.ri(0, k - 1) for _ in range(4))
    cout = cin * r.ri(1, 2) if depthwise else (cin if same else r.ri(1, 6))
    groups = cin if depthwise else 1
    wbits = 4 if r.rng.random() < 0.25 else 8
    lim = 7 if wbits == 4 else 127
    wt = r.rng.integers(-lim, lim, size=(cout, cin // groups, k, k), endpoint=True, dtype=np.int64)
    b = r.rng.integers(-4000, 4000, size=(cout,), endpoint=True, dtype=np.int64)
    ho = (h + pad[0] + pad[1] - k) // stride[0] + 1
    wo = (w + pad[2] + pad[3] - k) // stride[1] + 1
    acc = r.name("acc")
    r.g.add_tensor(acc, (cout, ho, wo), ACC)
    wf = parse(f"int<{wbits},narrow>")
    op = Conv2d(r.name("conv"), [x], acc, wt, b, wf, parse("int<32>"), ACC, stride, pad, (1, 1), groups)
    op.input_offset = r.in_offset(x)
    r.g.add_op(op)
    n = (cin // groups) * k * k
    return _rnd_requant(r, acc, cout, n, (cout, ho, wo))


def _rnd_pool(r: _R, x: str, avg: bool) -> str:
    from hwq.ir.ops import AvgPool

    c, h, w = r.g.tensor(x).shape
    k = (r.ri(1, min(3, h)), r.ri(1, min(3, w)))
    s = (r.ri(1, 2), r.ri(1, 2))
    pad = (r.ri(0, k[0] - 1), r.ri(0, k[0] - 1), r.ri(0, k[1] - 1), r.ri(0, k[1] - 1))
    ho = (h + pad[0] + pad[1] - k[0]) // s[0] + 1
    wo = (w + pad[2] + pad[3] - k[1]) // s[1] + 1
    xf = r.g.tensor(x).fmt
    y = r.name("t")
    if avg:
        if not xf.signed:  # CMSIS average pooling rounds raws = storage: int8 only
            x = _rnd_conv(r, x)
            return _rnd_pool(r, x, avg) if r.g.tensor(x).fmt.signed else x
        r.g.add_tensor(y, (c, ho, wo), xf)
        act = sorted(r.ri(-128, 127) for _ in range(2)) if r.rng.random() < 0.3 else (None, None)
        r.g.add_op(AvgPool(r.name("avg"), [x], y, k, s, pad, None, 1, 0, "cmsis", act[0], act[1]))
    else:
        r.g.add_tensor(y, (c, ho, wo), xf)
        r.g.add_op(MaxPool(r.name("max"), [x], y, k, s, pad))
    return y


def _rnd_binary(r: _R, x: str, kind: str) -> str:
    from hwq.ir.ops.add_dyadic import AddDyadic
    from hwq.ir.ops.mul_dyadic import MulDyadic

    other = _rnd_conv(r, x, same=True)
    fmt = r.act_fmt()
    off, act = r.out_params(fmt)
    y = r.name("t")
    r.g.add_tensor(y, r.g.tensor(x).shape, fmt)
    o1, o2 = r.in_offset(x), r.in_offset(other)
    if kind == "add":
        op = AddDyadic(r.name("add"), [x, other], y, o1, r.ri(1 << 30, (1 << 31) - 1), r.ri(-2, 0), o2,
                       r.ri(1 << 30, (1 << 31) - 1), r.ri(-2, 0), 20, r.ri(1 << 30, (1 << 31) - 1), r.ri(-21, -19),
                       off, act[0], act[1], r.single)  # fmt: skip
    else:
        op = MulDyadic(r.name("mul"), [x, other], y, o1, o2, r.ri(1 << 30, (1 << 31) - 1), r.ri(-9, -7), off,
                       act[0], act[1], r.single)  # fmt: skip
    r.g.add_op(op)
    return y


def _rnd_dense(r: _R, x: str) -> str:
    n = r.g.tensor(x).size
    m = r.ri(1, 12)
    wbits = 4 if r.rng.random() < 0.25 else 8
    lim = 7 if wbits == 4 else 127
    wt = r.rng.integers(-lim, lim, size=(m, n), endpoint=True, dtype=np.int64)
    b = r.rng.integers(-4000, 4000, size=(m,), endpoint=True, dtype=np.int64)
    acc = r.name("acc")
    r.g.add_tensor(acc, (m,), ACC)
    op = Dense(r.name("fc"), [x], acc, wt, b, parse(f"int<{wbits},narrow>"), parse("int<32>"), ACC)
    op.input_offset = r.in_offset(x)
    r.g.add_op(op)
    per_channel = wbits == 8 and r.rng.random() < 0.5
    return _rnd_requant(r, acc, m if per_channel else 1, n, (m,))


KINDS_C = ("conv", "depthwise", "maxpool", "avgpool", "add", "mul")


def random_cmsis_graph(seed: int, kinds=None, n_layers: int = 3, single: bool | None = None, dense: bool | None = None):
    """A random CMSIS-style graph: int8/uint8 affine tensors with zero points, convolutions (strided,
    asymmetric padding, depthwise, int4 weights), pools, residual add/mul, flatten -> dense."""
    rng = np.random.default_rng(seed)
    single = bool(rng.random() < 0.5) if single is None else single
    r = _R(seed + 1, single)
    r.g = Graph(f"rnd{seed}", ["x"], [])
    shape = (r.ri(1, 4), r.ri(4, 9), r.ri(4, 9))
    r.g.add_tensor("x", shape, r.act_fmt())
    kinds = list(kinds) if kinds is not None else [KINDS_C[r.ri(0, len(KINDS_C) - 1)] for _ in range(n_layers)]
    x = "x"
    for k in kinds:
        if k == "conv":
            x = _rnd_conv(r, x)
        elif k == "depthwise":
            x = _rnd_conv(r, x, depthwise=True)
        elif k in ("maxpool", "avgpool"):
            x = _rnd_pool(r, x, k == "avgpool")
        elif k in ("add", "mul"):
            x = _rnd_binary(r, x, k)
        else:
            raise ValueError(k)
    dense = bool(r.rng.random() < 0.6) if dense is None else dense
    if dense:
        f = r.name("t")
        r.g.add_tensor(f, (r.g.tensor(x).size,), r.g.tensor(x).fmt)
        r.g.add_op(Flatten(r.name("flat"), [x], f))
        x = _rnd_dense(r, f)
    r.g.outputs = [x]
    r.g.validate()
    return r.g


ACC64 = FixedFormat(64, 64, True, "TRN", "WRAP")


def s16_graph(seed=0, conv=True, single=False, name="s16"):
    """int16 activations (int8 weights, int64 bias and accumulator, dyadic_s64): conv -> maxpool -> dense."""
    from hwq.ir.ops import Conv2d

    rng = np.random.default_rng(seed)
    g = Graph(name, ["x"], [])
    i16 = "int<16>"
    x = "x"
    if conv:
        g.add_tensor("x", (2, 6, 5), i16)
        wt = rng.integers(-127, 128, size=(3, 2, 3, 3), dtype=np.int64)
        b = rng.integers(-(1 << 34), 1 << 34, size=(3,), dtype=np.int64)
        g.add_tensor("acc", (3, 6, 5), ACC64)
        g.add_op(Conv2d("conv", ["x"], "acc", wt, b, parse("int<8,narrow>"), FixedFormat(64, 64), ACC64, (1, 1),
                        (1, 1, 1, 1)))  # fmt: skip
        g.add_tensor("c", (3, 6, 5), i16)
        mult = rng.integers(1 << 30, (1 << 31) - 1, size=(3,), endpoint=True, dtype=np.int64)
        g.add_op(Requantize("rq", ["acc"], "c", "dyadic_s64", mult, np.array([-7, -8, -6]), single, 0, -30000, 30000))
        g.add_tensor("p", (3, 3, 2), i16)
        g.add_op(MaxPool("pool", ["c"], "p", (2, 2), (2, 2), (0, 0, 0, 0)))
        g.add_tensor("f", (18,), i16)
        g.add_op(Flatten("flat", ["p"], "f"))
        x = "f"
    else:
        g.add_tensor("x", (18,), i16)
    wt = rng.integers(-127, 128, size=(7, 18), dtype=np.int64)
    g.add_tensor("acc2", (7,), ACC64)
    b = rng.integers(-(1 << 30), 1 << 30, size=(7,), dtype=np.int64)
    g.add_op(Dense("fc", [x], "acc2", wt, b, parse("int<8,narrow>"), FixedFormat(64, 64), ACC64))
    g.add_tensor("y", (7,), i16)
    m = np.array([int(rng.integers(1 << 30, (1 << 31) - 1))])
    g.add_op(Requantize("rq2", ["acc2"], "y", "dyadic_s64", m, np.array([-6]), single, 0, None, None))
    g.outputs = ["y"]
    g.validate()
    return g
