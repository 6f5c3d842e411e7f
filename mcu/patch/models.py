"""MobileNetV2-style CMSIS-NN profile graphs (random int8 weights) for patch tests and benchmarks.

``mobilenet_v2(h, w, width=0.35, ...)``: the network of Sandler et al. 2018 (inverted residual blocks:
1x1 expand, 3x3 depthwise, 1x1 project, residual ``add_dyadic`` when the stride is 1 and the channels
match), with channels ``make_divisible(c * width, 8)``, in hwq's CMSIS-NN profile: affine ``int<8>``
activations with zero points, per-channel dyadic requantisation with ReLU6-like clamps, int8 weights.
Weights and requantisation parameters are random (seeded) and scaled so that activations spread over
the int8 range; the graph is for memory, schedule and bit-exactness work, not for accuracy.
``inverted_residual_stage`` is the small test stage (conv stem + one strided and one residual block).
"""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat, parse
from hwq.ir.graph import Graph
from hwq.ir.ops import Conv2d, Dense, Flatten, Requantize
from hwq.ir.ops.add_dyadic import AddDyadic
from hwq.ir.ops.avgpool import AvgPool

ACC = FixedFormat(32, 32, True, "TRN", "WRAP")
#: (expansion t, channels c, repeats n, stride s) of MobileNetV2's inverted residual blocks
MBV2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1))  # fmt: skip


def make_divisible(v: float, d: int = 8) -> int:
    """MobileNet channel rounding: nearest multiple of ``d``, at least ``d``, never below 90 % of ``v``."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class _B:
    def __init__(self, name: str, seed: int, single: bool):
        self.rng = np.random.default_rng(seed)
        self.g = Graph(name, ["x"], [])
        self.single = single
        self.n = 0

    def name(self, k: str) -> str:
        self.n += 1
        return f"{k}{self.n}"

    def conv(self, x: str, cout: int, k: int, s: int, dw: bool = False, relu: bool = True, pad=None) -> str:
        cin, h, w = self.g.tensor(x).shape
        p = (k - 1) // 2
        pad = (p, p, p, p) if pad is None else pad
        groups = cin if dw else 1
        if dw:
            cout = cin
        wt = self.rng.integers(-127, 128, size=(cout, cin // groups, k, k), dtype=np.int64)
        bias = self.rng.integers(-2000, 2000, size=(cout,), dtype=np.int64)
        ho = (h + pad[0] + pad[1] - k) // s + 1
        wo = (w + pad[2] + pad[3] - k) // s + 1
        acc = self.name("acc")
        self.g.add_tensor(acc, (cout, ho, wo), ACC)
        op = Conv2d(self.name("conv" if not dw else "dw"), [x], acc, wt, bias, parse("int<8,narrow>"),
                    parse("int<32>"), ACC, (s, s), pad, (1, 1), groups)  # fmt: skip
        op.input_offset = int(self.rng.integers(-10, 10))
        self.g.add_op(op)
        n = (cin // groups) * k * k
        y = self.name("t")
        self.g.add_tensor(y, (cout, ho, wo), "int<8>")
        mag = max(np.sqrt(n) * 127 * 70, 1.0)
        base = -int(round(np.log2(mag / 60)))
        mult = self.rng.integers(1 << 30, (1 << 31) - 1, size=(cout,), endpoint=True, dtype=np.int64)
        shift = np.clip(base + self.rng.integers(-1, 1, size=(cout,), endpoint=True), -31, 30).astype(np.int64)
        off = int(self.rng.integers(-20, 20))
        lo, hi = (-128 + 0, 127) if not relu else (off, 127)
        self.g.add_op(Requantize(self.name("rq"), [acc], y, "dyadic", mult, shift, self.single, off, lo, hi))
        return y

    def add(self, a: str, b: str) -> str:
        y = self.name("t")
        self.g.add_tensor(y, self.g.tensor(a).shape, "int<8>")
        r = self.rng
        op = AddDyadic(self.name("add"), [a, b], y, int(r.integers(-10, 10)), int(r.integers(1 << 30, 1 << 31)),
                       -1, int(r.integers(-10, 10)), int(r.integers(1 << 30, 1 << 31)), -1, 20,
                       int(r.integers(1 << 30, 1 << 31)), -20, int(r.integers(-10, 10)), None, None,
                       self.single)  # fmt: skip
        self.g.add_op(op)
        return y

    def block(self, x: str, t: int, cout: int, s: int) -> str:
        cin = self.g.tensor(x).shape[0]
        y = self.conv(x, cin * t, 1, 1) if t != 1 else x
        y = self.conv(y, 0, 3, s, dw=True)
        y = self.conv(y, cout, 1, 1, relu=False)
        if s == 1 and cin == cout:
            y = self.add(x, y)
        return y


def mobilenet_v2(h: int = 96, w: int = 96, width: float = 0.35, classes: int = 10, seed: int = 0,
                 single: bool = False, blocks=MBV2_BLOCKS, head: bool = True, name: str = "mbv2") -> Graph:  # fmt: skip
    """MobileNetV2 (``width`` multiplier) on a ``3 x h x w`` int8 input; ``blocks`` may be a prefix of
    ``MBV2_BLOCKS``; ``head``: last 1x1 conv (1280 channels, or 1280 * width above 1), global average
    pool and classifier. Random weights (``seed``); ``single``: CMSIS_NN_USE_SINGLE_ROUNDING."""
    b = _B(name, seed, single)
    b.g.add_tensor("x", (3, h, w), "int<8>")
    x = b.conv("x", make_divisible(32 * width), 3, 2)
    for t, c, n, s in blocks:
        for i in range(n):
            x = b.block(x, t, make_divisible(c * width), s if i == 0 else 1)
    if head:
        x = b.conv(x, 1280 if width <= 1 else make_divisible(1280 * width), 1, 1)
        c, hh, ww = b.g.tensor(x).shape
        p = b.name("t")
        b.g.add_tensor(p, (c, 1, 1), "int<8>")
        b.g.add_op(AvgPool(b.name("gap"), [x], p, (hh, ww), (hh, ww), (0, 0, 0, 0), None, 1, 0, "cmsis"))
        f = b.name("t")
        b.g.add_tensor(f, (c,), "int<8>")
        b.g.add_op(Flatten(b.name("flat"), [p], f))
        acc = b.name("acc")
        b.g.add_tensor(acc, (classes,), ACC)
        wt = b.rng.integers(-127, 128, size=(classes, c), dtype=np.int64)
        op = Dense(b.name("fc"), [f], acc, wt, b.rng.integers(-999, 999, size=(classes,)), parse("int<8,narrow>"),
                   parse("int<32>"), ACC)  # fmt: skip
        op.input_offset = 3
        b.g.add_op(op)
        y = b.name("t")
        b.g.add_tensor(y, (classes,), "int<8>")
        mag = np.sqrt(c) * 127 * 70
        sh = np.array([-int(round(np.log2(mag / 60)))], dtype=np.int64)
        b.g.add_op(Requantize(b.name("rq"), [acc], y, "dyadic", np.array([1 << 30]), sh, single, 0, None, None))
        x = y
    b.g.outputs = [x]
    b.g.validate()
    return b.g


def inverted_residual_stage(h: int = 12, w: int = 10, seed: int = 0, single: bool = False, head: bool = True,
                            name: str = "irstage") -> Graph:  # fmt: skip
    """A small MobileNetV2-style stage for exhaustive tests: 3x3 stride-2 stem (3 -> 8), an inverted
    residual block with stride 2 (8 -> 8, expansion 2) and one with stride 1 and the residual add; then
    (``head``) a 1x1 conv, global average pool and a dense classifier that stay whole-tensor."""
    blocks = ((2, 8, 1, 2), (2, 8, 1, 1))
    g = mobilenet_v2(h, w, 1.0, 4, seed, single, blocks=(), head=False, name=name)
    b = _B(name, seed + 7, single)
    b.g = g
    b.n = 100
    x = g.outputs[0]
    for t, c, _n, s in blocks:
        x = b.block(x, t, c, s)
    if head:
        c, hh, ww = g.tensor(x).shape
        p = b.name("t")
        g.add_tensor(p, (c, 1, 1), "int<8>")
        g.add_op(AvgPool(b.name("gap"), [x], p, (hh, ww), (hh, ww), (0, 0, 0, 0), None, 1, 0, "cmsis"))
        f = b.name("t")
        g.add_tensor(f, (c,), "int<8>")
        g.add_op(Flatten(b.name("flat"), [p], f))
        acc = b.name("acc")
        g.add_tensor(acc, (5,), ACC)
        wt = b.rng.integers(-127, 128, size=(5, c), dtype=np.int64)
        g.add_op(Dense(b.name("fc"), [f], acc, wt, b.rng.integers(-99, 99, size=(5,)), parse("int<8,narrow>"),
                       parse("int<32>"), ACC))  # fmt: skip
        y = b.name("t")
        g.add_tensor(y, (5,), "int<8>")
        g.add_op(Requantize(b.name("rq"), [acc], y, "dyadic", np.array([1 << 30]), np.array([-9]), single, 0,
                            None, None))  # fmt: skip
        x = y
    g.outputs = [x]
    g.validate()
    return g


def with_patch_quant(graph: Graph, tensor: str, grid: tuple[int, int], bits, shifts=None, base: int | None = None,
                     name: str = "pq") -> Graph:  # fmt: skip
    """A copy of ``graph`` with a ``patch_quant`` op (per-patch bits and steps, row-major over ``grid``; see
    ``hwq/ir/ops/patch_quant.py``) on int8 tensor ``tensor``, every reader of ``tensor`` reading its output
    ``<tensor>_pq`` instead. With ``tensor`` the output of a split op and the patch grid equal to ``grid``,
    ``hwq emit mcu -O patches=...`` packs each patch inside the patch loop."""
    import copy

    from hwq.ir.ops.patch_quant import PatchQuant

    y = f"{tensor}_pq"
    out = Graph(graph.name + "_pq", list(graph.inputs), [y if t == tensor else t for t in graph.outputs])
    for t, ten in graph.tensors.items():
        out.add_tensor(t, ten.shape, ten.fmt)
    out.add_tensor(y, graph.tensor(tensor).shape, graph.tensor(tensor).fmt)
    for op in graph.ops:
        new = copy.copy(op)  # keeps attributes set after construction (e.g. a conv's input_offset)
        new.inputs = [y if i == tensor else i for i in op.inputs]
        out.add_op(new)
        if op.output == tensor:
            ks = None if shifts is None else tuple(int(k) for k in shifts)
            out.add_op(PatchQuant(name, [tensor], y, grid=tuple(grid), bits=tuple(int(b) for b in bits), base=base,
                                  shifts=ks))  # fmt: skip
    out.validate()
    return out
