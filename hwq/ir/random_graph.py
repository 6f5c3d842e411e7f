"""Random valid IR graphs for differential testing of the interpreter and of every emitter.

``random_graph(seed, ops=...)`` returns a validated graph whose ops, shapes, formats (every rounding and
overflow mode, negative and large integer bits), accumulators (lossless and deliberately narrow, so that
WRAP and SAT accumulation order matter) and integer weights are drawn from ``numpy.random.default_rng
(seed)``: the same seed gives the same graph on every machine. Emitter tests use it as::

    from hwq.ir.random_graph import KINDS, random_graph
    for kind in KINDS:
        for seed in range(5):
            g = random_graph(seed, ops=[kind])     # contains a `kind` op (plus adapters)
            ... emit g, simulate, compare with hwq.ir.run(g, inputs) ...

Adapter ops are inserted where an op needs another rank: ``flatten`` before a dense layer after a
spatial op, ``reshape`` between 2-D and 1-D convolutions, a producing op (``relu``) for the second
operand of binary ops (add, mul, concat), and a ``requantize`` cast before a ``lut`` whose input is
wider than 10 bits or a dyadic ``requantize`` whose input raws exceed int32.

Options: ``rounding`` / ``overflow`` restrict the modes; ``minifloats`` adds minifloat tensor and weight
formats; ``csd`` adds multiplier-free ``csd<W,I,k>`` weights; ``wide`` allows accumulators beyond 62
bits. A given seed and option set always gives the same graph (new options never change old graphs).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np

from hwq.formats import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, parse

from . import ops as O
from .graph import OPS, Graph, GraphError

#: rank of the input tensor each op kind needs (None: any rank).
_RANK = {
    "dense": 1,
    "relu": None,
    "conv1d": 2,
    "conv2d": 3,
    "add": None,
    "mul": None,
    "batchnorm": None,
    "clip": None,
    "maxpool": "spatial",
    "avgpool": "spatial",
    "global_avgpool": "spatial",
    "flatten": "spatial",
    "reshape": None,
    "concat": None,
    "lut": None,
    "requantize": None,
}


class _Ctx:
    """Random choices shared by the op builders."""

    def __init__(
        self, rng, max_width: int, rounding, overflow, wide: bool, minifloats=(), csd: bool = False, offsets=False
    ):
        self.rng = rng
        self.offsets = offsets
        self.csd = csd
        self.minifloats = [parse(m) if isinstance(m, str) else m for m in minifloats]
        self.max_width = max_width
        self.rounding = list(rounding)
        self.overflow = list(overflow)
        self.wide = wide
        self.count = 0

    def ri(self, lo: int, hi: int) -> int:
        """A random int in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, seq):
        return seq[int(self.rng.integers(0, len(seq)))]

    def fmt(self, lo_width: int = 2, hi_width: int | None = None, signed: bool | None = None, mini: bool = True):
        """A random fixed format with random modes (integer bits from below 0 to above W), or (with
        probability 0.3 when minifloats are enabled and ``mini``) one of the minifloat formats."""
        if mini and self.minifloats and self.rng.random() < 0.3:
            return self.pick(self.minifloats)
        hi_width = hi_width or self.max_width
        w = self.ri(lo_width, max(lo_width, hi_width))
        i = self.ri(-2, w + 2)
        s = bool(self.rng.random() < 0.85) if signed is None else signed
        return FixedFormat(w, i, s, self.pick(self.rounding), self.pick(self.overflow))

    def acc_fmt(self, prod_frac: int, bound_bits: int) -> FixedFormat:
        """An accumulator: usually lossless for ``bound_bits`` of magnitude at ``prod_frac``, sometimes
        too narrow (to exercise overflow order) or with fewer fractional bits (to round products)."""
        frac = prod_frac + (self.ri(-3, 0) if self.rng.random() < 0.3 else 0)
        width = bound_bits + 1 + (frac - prod_frac)
        if self.rng.random() < 0.35:
            width -= self.ri(1, max(1, bound_bits // 2))  # deliberately narrow
        width = max(2, width)
        if not self.wide:
            width = min(width, 62)
        return FixedFormat(width, width - frac, True, self.pick(self.rounding), self.pick(self.overflow))

    def weights(self, fmt, shape) -> np.ndarray:
        """Random representable raws of ``fmt`` (every raw of a fixed format; minifloats: random codes)."""
        if hasattr(fmt, "random_raw"):
            arr = np.asarray(fmt.random_raw(self.rng, tuple(shape)))
            return arr if arr.dtype == object else arr.astype(np.int64)
        if fmt.width > 62:  # Python ints: uniform over the raw range from random bytes
            span = fmt.raw_max - fmt.raw_min + 1
            n = int(np.prod(shape))
            nbytes = (span.bit_length() + 71) // 8
            vals = [fmt.raw_min + int.from_bytes(self.rng.bytes(nbytes), "little") % span for _ in range(n)]
            return np.array(vals, dtype=object).reshape(shape)
        return self.rng.integers(fmt.raw_min, fmt.raw_max, size=shape, endpoint=True, dtype=np.int64)

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count}"


def _new(g: Graph, ctx: _Ctx, kind: str, shape, fmt) -> str:
    name = ctx.name(kind) + "_out"
    g.add_tensor(name, shape, fmt)
    return name


def _offset(ctx: _Ctx, xfmt) -> int:
    """A random CMSIS-NN input offset (only with the ``offsets`` option; no draw otherwise)."""
    if not ctx.offsets:
        return 0
    span = xfmt.raw_max - xfmt.raw_min
    return ctx.ri(-(span // 2) - 1, span // 2 + 1)


def _mac_parts(ctx: _Ctx, xfmt, n_terms: int, offset: int = 0):
    """Weight, bias and accumulator formats for a MAC layer with ``n_terms`` products per output."""
    wf = ctx.fmt(2, min(ctx.max_width, 10))
    if ctx.csd and ctx.rng.random() < 0.5:  # multiplier-free weights: at most k signed digits
        base = ctx.fmt(2, min(ctx.max_width, 10), mini=False)
        wf = parse(f"{'csd' if base.signed else 'ucsd'}<{base.width},{base.int_bits},{ctx.ri(1, 3)}>")
    bf = ctx.fmt(2, ctx.max_width, mini=False)
    prod_frac = xfmt.frac_bits + wf.frac_bits
    xmag = max(abs(xfmt.raw_min + offset), abs(xfmt.raw_max + offset))
    wmag = max(abs(wf.raw_min), abs(wf.raw_max))
    bound = n_terms * xmag * wmag
    shift = prod_frac - bf.frac_bits
    bmag = max(abs(bf.raw_min), abs(bf.raw_max))
    bound += bmag << shift if shift >= 0 else (bmag >> -shift) + 1
    return wf, bf, ctx.acc_fmt(prod_frac, bound.bit_length())


def _dense(g, ctx, x):
    t = g.tensor(x)
    (n,) = t.shape
    m = ctx.ri(1, 8)
    off = _offset(ctx, t.fmt)
    wf, bf, af = _mac_parts(ctx, t.fmt, n, off)
    y = _new(g, ctx, "dense", (m,), ctx.fmt())
    g.add_op(O.Dense(y[:-4], [x], y, ctx.weights(wf, (m, n)), ctx.weights(bf, (m,)), wf, bf, af, off))
    return y


def _relu(g, ctx, x):
    t = g.tensor(x)
    y = _new(g, ctx, "relu", t.shape, ctx.fmt())
    g.add_op(O.ReLU(y[:-4], [x], y))
    return y


def _conv2d(g, ctx, x):
    t = g.tensor(x)
    cin, h, w = t.shape
    groups = ctx.pick([d for d in range(1, cin + 1) if cin % d == 0])
    cout = groups * ctx.ri(1, 2 if groups > 1 else 4)
    kh, kw = ctx.ri(1, min(3, h + 2)), ctx.ri(1, min(3, w + 2))
    stride = (ctx.ri(1, 2), ctx.ri(1, 2))
    dilation = (ctx.ri(1, 2), ctx.ri(1, 2))
    padding = tuple(ctx.ri(0, 1) for _ in range(4))
    ho = (h + padding[0] + padding[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + padding[2] + padding[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if ho < 1 or wo < 1:
        dilation, stride, kh, kw, padding = (1, 1), (1, 1), 1, 1, (0, 0, 0, 0)
        ho, wo = h, w
    off = _offset(ctx, t.fmt)
    wf, bf, af = _mac_parts(ctx, t.fmt, (cin // groups) * kh * kw, off)
    y = _new(g, ctx, "conv2d", (cout, ho, wo), ctx.fmt())
    wt = ctx.weights(wf, (cout, cin // groups, kh, kw))
    bias = ctx.weights(bf, (cout,))
    g.add_op(O.Conv2d(y[:-4], [x], y, wt, bias, wf, bf, af, stride, padding, dilation, groups, off))
    return y


def _conv1d(g, ctx, x):
    t = g.tensor(x)
    cin, n = t.shape
    groups = ctx.pick([d for d in range(1, cin + 1) if cin % d == 0])
    cout = groups * ctx.ri(1, 2 if groups > 1 else 4)
    k = ctx.ri(1, min(3, n + 2))
    stride, dilation = ctx.ri(1, 2), ctx.ri(1, 2)
    padding = (ctx.ri(0, 1), ctx.ri(0, 1))
    lo = (n + padding[0] + padding[1] - dilation * (k - 1) - 1) // stride + 1
    if lo < 1:
        k, stride, dilation, padding, lo = 1, 1, 1, (0, 0), n
    off = _offset(ctx, t.fmt)
    wf, bf, af = _mac_parts(ctx, t.fmt, (cin // groups) * k, off)
    y = _new(g, ctx, "conv1d", (cout, lo), ctx.fmt())
    wt = ctx.weights(wf, (cout, cin // groups, k))
    bias = ctx.weights(bf, (cout,))
    g.add_op(O.Conv1d(y[:-4], [x], y, wt, bias, wf, bf, af, stride, padding, dilation, groups, off))
    return y


def _binary(cls, kind):
    def build(g, ctx, x):
        t = g.tensor(x)
        other = _relu(g, ctx, x)  # a second operand in another format
        operands = [x, other] if ctx.rng.random() < 0.5 else [other, x]
        y = _new(g, ctx, kind, t.shape, ctx.fmt())
        g.add_op(cls(y[:-4], operands, y))
        return y

    return build


def _flatten(g, ctx, x):
    t = g.tensor(x)
    y = _new(g, ctx, "flatten", (t.size,), t.fmt)
    g.add_op(O.Flatten(y[:-4], [x], y))
    return y


def _reshape(g, ctx, x):
    t = g.tensor(x)
    return _reshape_to(g, ctx, x, ctx.pick([r for r in (1, 2, 3) if r != len(t.shape)]))


def _batchnorm(g, ctx, x):
    t = g.tensor(x)
    c = t.shape[0]
    sf, bf = ctx.fmt(2, 12), ctx.fmt(2, ctx.max_width)
    y = _new(g, ctx, "batchnorm", t.shape, ctx.fmt())
    g.add_op(O.BatchNorm(y[:-4], [x], y, ctx.weights(sf, (c,)), ctx.weights(bf, (c,)), sf, bf))
    return y


def _clip(g, ctx, x):
    t = g.tensor(x)
    lo, hi = sorted(ctx.ri(t.fmt.raw_min, t.fmt.raw_max) for _ in range(2))
    r = ctx.rng.random()
    if r < 0.2:
        lo = None
    elif r < 0.4:
        hi = None
    elif r < 0.55:  # ReLU6
        lo, hi = 0, 6 << t.fmt.frac_bits if t.fmt.frac_bits >= 0 else 6 >> -t.fmt.frac_bits
    y = _new(g, ctx, "clip", t.shape, ctx.fmt())
    g.add_op(O.Clip(y[:-4], [x], y, lo, hi))
    return y


def _pool_geometry(ctx, spatial):
    kernel = tuple(ctx.ri(1, min(3, n)) for n in spatial)
    stride = tuple(ctx.ri(1, k) for k in kernel)
    padding = []
    for k in kernel:
        padding += [ctx.ri(0, min(1, k - 1)), ctx.ri(0, min(1, k - 1))]
    out = tuple((n + padding[2 * a] + padding[2 * a + 1] - kernel[a]) // stride[a] + 1 for a, n in enumerate(spatial))
    return kernel, stride, tuple(padding), out


def _maxpool(g, ctx, x):
    t = g.tensor(x)
    kernel, stride, padding, out = _pool_geometry(ctx, t.shape[1:])
    y = _new(g, ctx, "maxpool", (t.shape[0], *out), ctx.fmt())
    g.add_op(O.MaxPool(y[:-4], [x], y, kernel, stride, padding))
    return y


def _window_acc(ctx, xfmt, n: int) -> FixedFormat:
    xmag = max(abs(xfmt.raw_min), abs(xfmt.raw_max))
    return ctx.acc_fmt(xfmt.frac_bits, (n * xmag).bit_length())


def _avgpool(g, ctx, x):
    from .ops.avgpool import reciprocal

    t = g.tensor(x)
    kernel, stride, padding, out = _pool_geometry(ctx, t.shape[1:])
    n = int(np.prod(kernel))
    recip, rf = reciprocal(n)
    y = _new(g, ctx, "avgpool", (t.shape[0], *out), ctx.fmt())
    g.add_op(O.AvgPool(y[:-4], [x], y, kernel, stride, padding, _window_acc(ctx, t.fmt, n), recip, rf))
    return y


def _global_avgpool(g, ctx, x):
    from .ops.avgpool import reciprocal

    t = g.tensor(x)
    n = t.size // t.shape[0]
    recip, rf = reciprocal(n)
    y = _new(g, ctx, "global_avgpool", (t.shape[0],), ctx.fmt())
    g.add_op(O.GlobalAvgPool(y[:-4], [x], y, _window_acc(ctx, t.fmt, n), recip, rf))
    return y


def _concat(g, ctx, x):
    t = g.tensor(x)
    other = _relu(g, ctx, x)
    axis = ctx.ri(0, len(t.shape) - 1)
    shape = list(t.shape)
    shape[axis] *= 2
    operands = [x, other] if ctx.rng.random() < 0.5 else [other, x]
    y = _new(g, ctx, "concat", tuple(shape), ctx.fmt())
    g.add_op(O.Concat(y[:-4], operands, y, axis))
    return y


def _cast(g, ctx, x, fmt) -> str:
    t = g.tensor(x)
    y = _new(g, ctx, "requantize", t.shape, fmt)
    g.add_op(O.Requantize(y[:-4], [x], y, "cast"))
    return y


def _lut(g, ctx, x):
    from .ops.lut import sigmoid_table, tanh_table

    t = g.tensor(x)
    if getattr(t.fmt, "width", 99) > 10:
        x = _cast(g, ctx, x, ctx.fmt(2, 10))
        t = g.tensor(x)
    yf = ctx.fmt()
    fn = ctx.pick(["sigmoid", "tanh", "random"])
    if fn == "sigmoid":
        table = sigmoid_table(t.fmt, yf)
    elif fn == "tanh":
        table = tanh_table(t.fmt, yf)
    else:
        table = ctx.weights(yf, (1 << t.fmt.width,))
    y = _new(g, ctx, "lut", t.shape, yf)
    g.add_op(O.LUT(y[:-4], [x], y, table, fn))
    return y


def _requantize(g, ctx, x):
    t = g.tensor(x)
    if ctx.rng.random() < 0.5:
        return _cast(g, ctx, x, ctx.fmt())
    if max(-t.fmt.raw_min, t.fmt.raw_max) >= 1 << 31:  # dyadic requantisation takes int32 raws
        x = _cast(g, ctx, x, ctx.fmt(2, 16, mini=False))
        t = g.tensor(x)
    c = t.shape[0] if ctx.rng.random() < 0.6 else 1
    mult = ctx.rng.integers(1 << 30, (1 << 31) - 1, size=(c,), endpoint=True, dtype=np.int64)
    shift = ctx.rng.integers(-12, 3, size=(c,), endpoint=True, dtype=np.int64)
    yf = FixedFormat(8, 8) if ctx.rng.random() < 0.5 else ctx.fmt(2, 16, mini=False)
    lo, hi = yf.raw_min, yf.raw_max
    act_min, act_max = (None, None) if ctx.rng.random() < 0.5 else sorted(ctx.ri(lo, hi) for _ in range(2))
    offset = ctx.ri(-(hi - lo) // 4, (hi - lo) // 4)
    y = _new(g, ctx, "requantize", t.shape, yf)
    single = bool(ctx.rng.random() < 0.5)
    g.add_op(O.Requantize(y[:-4], [x], y, "dyadic", mult, shift, single, offset, act_min, act_max))
    return y


_BUILDERS: dict[str, Callable] = {
    "dense": _dense,
    "relu": _relu,
    "conv1d": _conv1d,
    "conv2d": _conv2d,
    "add": _binary(O.Add, "add"),
    "mul": _binary(O.Multiply, "mul"),
    "flatten": _flatten,
    "reshape": _reshape,
    "batchnorm": _batchnorm,
    "clip": _clip,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": _global_avgpool,
    "concat": _concat,
    "lut": _lut,
    "requantize": _requantize,
}


def _int_fmt(ctx) -> FixedFormat:
    """A plain signed integer format (fixed<W,W>: frac 0), 8 or 16 bits, as CMSIS-NN tensors use."""
    w = ctx.pick([8, 16])
    return FixedFormat(w, w)


def _clamp_pair(ctx, fmt):
    if ctx.rng.random() < 0.5:
        return None, None
    return tuple(sorted(ctx.ri(fmt.raw_min, fmt.raw_max) for _ in range(2)))


def _q31(ctx) -> int:
    return int(ctx.rng.integers(1 << 30, (1 << 31) - 1, endpoint=True))


def _add_dyadic(g, ctx, x):
    t = g.tensor(x)
    other = _relu(g, ctx, x)
    operands = [x, other] if ctx.rng.random() < 0.5 else [other, x]
    mags = []
    offs = []
    for n in operands:
        f = g.tensor(n).fmt
        off = ctx.ri(-(1 << min(f.width, 15)) // 2, (1 << min(f.width, 15)) // 2)
        offs.append(off)
        mags.append(max(abs(f.raw_min + off), abs(f.raw_max + off)).bit_length())
    ls = ctx.ri(0, max(0, 30 - max(mags)))
    yf = _int_fmt(ctx)
    amin, amax = _clamp_pair(ctx, yf)
    y = _new(g, ctx, "add_dyadic", t.shape, yf)
    g.add_op(
        O.AddDyadic(
            y[:-4], operands, y, offs[0], _q31(ctx), ctx.ri(-20, 0), offs[1], _q31(ctx), ctx.ri(-20, 0), ls,
            _q31(ctx), ctx.ri(-12, 2), ctx.ri(-64, 64), amin, amax, bool(ctx.rng.random() < 0.5),
        )
    )  # fmt: skip
    return y


def _mul_dyadic(g, ctx, x):
    t = g.tensor(x)
    other = _relu(g, ctx, x)
    operands = [x, other] if ctx.rng.random() < 0.5 else [other, x]
    offs = [ctx.ri(-128, 128) for _ in operands]
    yf = _int_fmt(ctx)
    amin, amax = _clamp_pair(ctx, yf)
    y = _new(g, ctx, "mul_dyadic", t.shape, yf)
    g.add_op(
        O.MulDyadic(
            y[:-4], operands, y, offs[0], offs[1], _q31(ctx), ctx.ri(-20, 0), ctx.ri(-64, 64), amin, amax,
            bool(ctx.rng.random() < 0.5),
        )
    )  # fmt: skip
    return y


def _avgpool_cmsis(g, ctx, x):
    t = g.tensor(x)
    kernel, stride, padding, out = _pool_geometry(ctx, t.shape[1:])
    amin, amax = _clamp_pair(ctx, t.fmt)
    y = _new(g, ctx, "avgpool", (t.shape[0], *out), t.fmt)
    g.add_op(O.AvgPool(y[:-4], [x], y, kernel, stride, padding, None, 1, 0, "cmsis", amin, amax))
    return y


def _requantize_s64(g, ctx, x):
    t = g.tensor(x)
    c = t.shape[0] if ctx.rng.random() < 0.6 else 1
    mult = ctx.rng.integers(1 << 30, (1 << 31) - 1, size=(c,), endpoint=True, dtype=np.int64)
    if ctx.rng.random() < 0.2:
        mult[0] = 0x7FFF8000  # the REDUCE_MULTIPLIER saturation branch
    shift = ctx.rng.integers(-14, 14, size=(c,), endpoint=True, dtype=np.int64)
    yf = FixedFormat(16, 16)
    amin, amax = _clamp_pair(ctx, yf)
    y = _new(g, ctx, "requantize", t.shape, yf)
    g.add_op(O.Requantize(y[:-4], [x], y, "dyadic_s64", mult, shift, False, 0, amin, amax))
    return y


#: CMSIS-NN op variants ``random_graph`` builds only when asked by name in ``ops`` (never drawn by
#: default, so emitters that refuse them keep their random tests): element-wise add/mul with dyadic
#: requantisation, the CMSIS-NN average pool and the int16 (``dyadic_s64``) requantisation.
CMSIS_KINDS: list[str] = ["add_dyadic", "mul_dyadic", "avgpool_cmsis", "requantize_s64"]
_CMSIS_BUILDERS: dict[str, Callable] = {
    "add_dyadic": _add_dyadic,
    "mul_dyadic": _mul_dyadic,
    "avgpool_cmsis": _avgpool_cmsis,
    "requantize_s64": _requantize_s64,
}
_RANK.update({"add_dyadic": None, "mul_dyadic": None, "avgpool_cmsis": "spatial", "requantize_s64": None})

#: op kinds whose IR module brings its own builder (``random_op(graph, ctx, x) -> tensor`` and
#: ``RANDOM_RANK``): built only when asked by name in ``ops`` (never drawn by default, so adding an op
#: does not change existing random graphs); a new op's own tests ask for it
OPT_IN_KINDS: list[str] = []
for _kind, _cls in sorted(OPS.items()):
    _mod = sys.modules.get(_cls.__module__)
    if _kind not in _BUILDERS and hasattr(_mod, "random_op"):
        OPT_IN_KINDS.append(_kind)
        _CMSIS_BUILDERS[_kind] = _mod.random_op
        _RANK[_kind] = getattr(_mod, "RANDOM_RANK", None)


def available_kinds() -> list[str]:
    """Op kinds that ``random_graph`` can build (every registered op kind once all are implemented)."""
    return [k for k in _BUILDERS if k in OPS]


#: the op kinds ``random_graph`` covers, in a stable order.
KINDS: list[str] = available_kinds()


def _to_rank(g: Graph, ctx: _Ctx, x: str, rank) -> str:
    """Insert adapter ops so that tensor ``x`` has the rank an op needs."""
    t = g.tensor(x)
    have = len(t.shape)
    if rank is None or rank == have or (rank == "spatial" and have in (2, 3)):
        return x
    if rank == "spatial":
        rank = 2
    if rank == 1 and "flatten" in _BUILDERS:
        return _BUILDERS["flatten"](g, ctx, x)
    if "reshape" in _BUILDERS:
        return _reshape_to(g, ctx, x, rank)
    raise GraphError(f"random_graph: cannot adapt a rank-{have} tensor to rank {rank} (no reshape op yet)")


def _reshape_to(g, ctx, x, rank):
    t = g.tensor(x)
    size = t.size
    if rank == 1:
        shape = (size,)
    elif rank == 2:
        shape = (t.shape[0], size // t.shape[0]) if len(t.shape) > 1 else (1, size)
    else:
        shape = (t.shape[0], t.shape[1], size // (t.shape[0] * t.shape[1])) if len(t.shape) == 2 else (1, 1, size)
    y = _new(g, ctx, "reshape", shape, t.fmt)
    g.add_op(OPS["reshape"](y[:-4], [x], y))
    return y


def random_graph(
    seed: int,
    ops: Sequence[str] | None = None,
    n_ops: int = 4,
    *,
    max_width: int = 16,
    rounding: Sequence[str] = ROUNDING_MODES,
    overflow: Sequence[str] = OVERFLOW_MODES,
    wide: bool = False,
    minifloats: Sequence = (),
    csd: bool = False,
    name: str | None = None,
    offsets: bool = False,
) -> Graph:
    """A random valid graph (validated) from ``seed``.

    ops: op kinds to include, in this order (adapters added as needed); default ``n_ops`` kinds drawn
    from ``KINDS``. max_width: largest tensor/weight format width (accumulators are as wide as needed,
    capped at 62 bits unless ``wide``). rounding / overflow: the modes formats may use. wide: allow
    accumulators beyond 62 bits (Python-int interpreter paths). minifloats: minifloat formats (names
    such as ``"e4m3fn"`` or format objects) that tensors and weights may also use (accumulators, biases
    and dyadic requantisation stay fixed point). csd: half of the dense/conv weight formats become
    ``csd<W,I,k>`` (k = 1..3 signed digits, multiplier-free). offsets: dense/conv layers get a random
    non-zero-able CMSIS-NN ``input_offset`` (off by default: HLS/RTL refuse it). ``ops`` may also name
    the ``CMSIS_KINDS`` and ``OPT_IN_KINDS`` (never drawn by default). One input tensor, one output tensor.
    """
    rng = np.random.default_rng(seed)
    ctx = _Ctx(rng, max_width, rounding, overflow, wide, minifloats, csd, offsets)
    kinds = list(ops) if ops is not None else [ctx.pick(KINDS) for _ in range(n_ops)]
    builders = {**_BUILDERS, **_CMSIS_BUILDERS}
    unknown = [k for k in kinds if k not in builders]
    if unknown:
        raise GraphError(f"random_graph: no builder for op kind(s) {unknown}; available: {KINDS}")
    first = next((_RANK[k] for k in kinds if _RANK[k] is not None), ctx.pick([1, 2, 3]))
    rank = {"spatial": ctx.pick([2, 3])}.get(first, first)
    if rank == 1:
        shape = (ctx.ri(2, 12),)
    elif rank == 2:
        shape = (ctx.ri(1, 4), ctx.ri(3, 8))
    else:
        shape = (ctx.ri(1, 3), ctx.ri(3, 6), ctx.ri(3, 6))
    g = Graph(name or f"random_{seed}", ["input"], [])
    g.add_tensor("input", shape, ctx.fmt(2, min(max_width, 62)))  # inputs stay int64-drawable
    x = "input"
    for k in kinds:
        x = _to_rank(g, ctx, x, _RANK[k])
        x = builders[k](g, ctx, x)
    g.outputs = [x]
    g.validate()
    return g


def random_inputs(graph: Graph, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random raw integers of representable values of each input format: {input name: (n, *shape) array}.

    Formats with ``random_raw(rng, shape)`` (minifloats: uniform over encodings) use it; fixed-point and
    integer formats draw uniformly over their whole raw range (int64). ``seed`` makes the draw repeatable.
    These are the vectors ``hwq verify`` feeds every backend (re-exported as ``hwq.sim.verify.random_inputs``).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        if hasattr(t.fmt, "random_raw"):
            out[name] = t.fmt.random_raw(rng, (n, *t.shape))
        else:
            out[name] = rng.integers(t.fmt.raw_min, t.fmt.raw_max, size=(n, *t.shape), endpoint=True, dtype=np.int64)
    return out
