"""Functional coverage of golden vectors (``hwq verify rtl --vectors auto``, ``verify.json`` "coverage").

Items, per op (a layer of the emitted design holds one or more ops; ``rtl.json`` names them):

- ``acc_sat_hi`` / ``acc_sat_lo`` (matrix ops: dense, conv1d, conv2d incl. grouped/depthwise, avgpool,
  global_avgpool, with a saturating accumulator): some *partial sum* of the IR's ordered accumulation
  ``acc = cast_acc(acc + cast_acc(x[i] * w[j, i]))`` (or a product cast on its own) lies above / below
  the accumulator's range, i.e. a saturation of the chain fires at some step (the emitter builds such an
  accumulator as a compact saturating chain, ``hwq.rtl.ordered``; a final sum back in range after a
  saturated step still counts);
- ``out_max`` / ``out_min`` (every op with a fixed-point or minifloat output): some output raw equals the
  output format's raw_max / raw_min;
- ``cast_ovf_hi`` / ``cast_ovf_lo`` (ops whose result is one exact value cast to a fixed-point output:
  matrix ops, relu, leaky_relu, clip, maxpool, add, mul, concat, batchnorm, requantize in cast mode):
  the exact pre-cast value, rounded to the output LSB, lies above / below the output range (the output
  cast saturates, or wraps, per the format's overflow mode);
- ``tie`` (the same ops, when the output cast drops d >= 1 fractional bits with a rounding mode, not TRN):
  some pre-cast value has dropped bits exactly 1000..0 (half an output LSB).

Each item is *reachable* or not by static analysis, an over-approximation (inputs independent, each over
its whole format): saturation from the interval of every prefix ``bias + c_0 + ... + c_k`` of each output's
chain (``c_i`` the cast product's interval); min/max and cast overflow from the interval of the pre-cast
value (matrix ops: the chain's final interval, saturating per step; other ops: the op evaluated on its
inputs' corner values); a tie needs the pre-cast values' lattice (the 2-adic valuation of weights, bias,
scale) to reach half an LSB inside that interval. The interpreter's tensors decide whether a vector hits
an item (the design is bit-exact with it; ``hwq verify`` checks that). Ops without items: flatten,
reshape (no arithmetic); lut and the dyadic (CMSIS-NN) ops only have out_max / out_min. Back-pressure
stalls per stream and per pipeline stage come from the RTL bench (``tb_report.json`` "stalls",
"stage_stalls"; ``stall_items``).

``auto_vectors`` adds directed vectors to random ones until every reachable item is hit or a search
budget runs out: the input corners (all min, all max, zero, alternating), sign patterns of rows of the
first matrix op (each input at its max where the weight is positive, at its min elsewhere, and the
reverse), vectors with each input at an extreme with probability 1/2, random vectors, and a hill climb
on the measure of an unhit item (output value for min/max, pre-cast value for cast overflow, the largest
partial sum for saturation); a candidate joins the set only if it hits a new item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwq.formats import FixedFormat, shift_round

ROUNDING_FREE = ("TRN", "TRN_ZERO")
MATRIX_KINDS = ("dense", "conv1d", "conv2d", "avgpool", "global_avgpool")
#: ops whose output is one exact value cast to the output format (the wide-format pre-cast evaluation)
CAST_KINDS = ("relu", "leaky_relu", "clip", "maxpool", "add", "mul", "concat", "batchnorm", "requantize")
KINDS = ("acc_sat_hi", "acc_sat_lo", "out_max", "out_min", "cast_ovf_hi", "cast_ovf_lo", "tie")


@dataclass
class Item:
    """One coverage item: ``op``, ``kind`` (one of ``KINDS``, or ``stall`` for a pipeline stage), reachable."""

    op: str
    kind: str
    reachable: bool
    hits: int = 0
    first_vector: int | None = None

    @property
    def key(self) -> str:
        return f"{self.op}:{self.kind}"


@dataclass
class Coverage:
    """Items of a graph and the vectors that hit them (``add``)."""

    graph: object
    items: dict[str, Item] = field(default_factory=dict)
    vectors: int = 0

    def add(self, x: np.ndarray) -> np.ndarray:
        """Count the hits of raw input vectors ``x`` ((B, *input shape)); returns the (B, items) hit matrix
        (column order: ``self.items``)."""
        h = hit_matrix(self.graph, x, list(self.items.values()))
        for j, it in enumerate(self.items.values()):
            col = np.nonzero(h[:, j])[0]
            if len(col):
                it.hits += len(col)
                if it.first_vector is None:
                    it.first_vector = self.vectors + int(col[0])
        self.vectors += len(h)
        return h

    def missing(self) -> list[Item]:
        """Reachable items no vector hit yet."""
        return [it for it in self.items.values() if it.reachable and it.hits == 0]

    def summary(self) -> dict:
        """JSON-ready: per op, per item kind: {reachable, hit, hits}; totals; per item kind: reachable/covered."""
        per: dict[str, dict] = {}
        kinds: dict[str, dict] = {}
        for it in self.items.values():
            per.setdefault(it.op, {})[it.kind] = {"reachable": it.reachable, "hit": it.hits > 0, "hits": it.hits}
            k = kinds.setdefault(it.kind, {"items": 0, "reachable": 0, "covered": 0})
            k["items"] += 1
            k["reachable"] += it.reachable
            k["covered"] += it.reachable and it.hits > 0
        reach = [it for it in self.items.values() if it.reachable]
        return {
            "vectors": self.vectors,
            "items": len(self.items),
            "reachable": len(reach),
            "covered": sum(it.hits > 0 for it in reach),
            "per_kind": kinds,
            "per_op": per,
        }


# ------------------------------------------------------------------------------------------ static shapes
def _fixed(fmt) -> bool:
    return isinstance(fmt, FixedFormat)


def _int_raws(fmt) -> bool:
    """Whether ``fmt``'s raws are plain integers on one lattice (fixed point, affine int<...>), not codes."""
    return hasattr(fmt, "raw_min") and getattr(fmt, "kind", None) != "float" and not hasattr(fmt, "exp_bits")


def _sat_limits(fmt) -> tuple[int, int]:
    """The raw range a saturating cast to ``fmt`` leaves unchanged (SAT_SYM: symmetric)."""
    lo, hi = int(fmt.raw_min), int(fmt.raw_max)
    if fmt.overflow == "SAT_SYM" and fmt.signed and fmt.width > 1:
        lo = -hi
    return lo, hi


def _valuation(values) -> int | None:
    """Smallest 2-adic valuation of the non-zero integers in ``values`` (None: all zero)."""
    vals = [int(v) for v in np.asarray(values, dtype=object).ravel() if int(v)]
    return min(((v & -v).bit_length() - 1 for v in vals), default=None)


@dataclass
class _Matrix:
    """A matrix op as the IR's ordered accumulation over the flattened input (``hwq.rtl.matrix``'s
    ``DenseSpec`` view): per output row j the steps ``idx[j, k]`` (input column) with weights ``wv[j, k]``
    (zero: padding, no step), bias already in the accumulator, products at ``pf`` fractional bits,
    accumulator ``acc``; the pre-cast value is ``acc * scale`` at ``frac`` = F_acc + scale_frac bits."""

    idx: np.ndarray
    wv: np.ndarray
    bias_acc: np.ndarray
    pf: int
    acc: FixedFormat
    offset: int
    scale: int
    frac: int


_MATRIX_CACHE: dict[int, tuple] = {}


def _matrix(op, graph) -> _Matrix | None:
    """The ordered-chain view of a matrix op (None: not a fixed-point matrix op); cached per op object."""
    hit = _MATRIX_CACHE.get(id(op))
    if hit is not None and hit[0] is op and hit[1] is graph:
        return hit[2]
    m = _matrix_uncached(op, graph)
    if len(_MATRIX_CACHE) > 256:
        _MATRIX_CACHE.clear()
    _MATRIX_CACHE[id(op)] = (op, graph, m)
    return m


def _matrix_uncached(op, graph) -> _Matrix | None:
    from hwq.ir.ops.common import raw_frac_bits

    if op.kind not in MATRIX_KINDS or not _fixed(getattr(op, "acc_fmt", None)):
        return None
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.output)
    if not _int_raws(x.fmt) or getattr(op, "mode", "recip") not in ("recip",):
        return None
    from hwq.rtl.matrix import avgpool_as_dense, conv_as_dense

    scale, extra = 1, 0
    if op.kind == "dense":
        w, b = np.asarray(op.weight), np.asarray(op.bias)
        wf, bf = raw_frac_bits(op.weight_fmt), raw_frac_bits(op.bias_fmt)
    elif op.kind in ("conv1d", "conv2d"):
        spec = conv_as_dense(op, x.shape, y.shape)
        w, b = spec.weight, spec.bias
        wf, bf = raw_frac_bits(op.weight_fmt), raw_frac_bits(op.bias_fmt)
    else:
        spec = avgpool_as_dense(op, x.shape, y.shape)
        w, b, wf, bf = spec.weight, spec.bias, 0, 0
        scale, extra = int(op.recip), int(op.recip_frac_bits)
    w = np.asarray(w, dtype=object).reshape(len(b), -1)
    nzm = np.asarray(w != 0, dtype=bool)
    nz = [np.nonzero(r)[0] for r in nzm]
    k = max((len(r) for r in nz), default=0)
    idx = np.zeros((len(w), max(k, 1)), dtype=np.int64)
    wv = np.zeros((len(w), max(k, 1)), dtype=object)
    for j, r in enumerate(nz):
        idx[j, : len(r)] = r
        wv[j, : len(r)] = w[j, r]
    acc = op.acc_fmt
    bias_acc = np.asarray(acc.cast_raw(np.asarray(b, dtype=object), bf), dtype=object).reshape(-1)
    pf = raw_frac_bits(x.fmt) + wf
    wv = wv.astype(np.int64) if max(abs(int(v)) for v in wv.ravel()).bit_length() < 40 else wv
    return _Matrix(idx, wv, bias_acc, pf, acc, int(getattr(op, "input_offset", 0) or 0), scale, acc.frac_bits + extra)


def _round_to(v, frac: int, fmt):
    """Integers ``v`` at ``frac`` fractional bits rounded (fmt's rounding, no overflow) to fmt's LSB."""
    d = frac - fmt.frac_bits
    if d > 0:
        return shift_round(v, d, fmt.rounding)
    return v * (1 << -d) if d < 0 else v


def _carrier(bits: int):
    return np.int64 if bits <= 60 else object


def _chain(m: _Matrix, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ordered accumulation of every output row on raw inputs ``x`` (B, N): (final accumulator raws
    (B, M), largest and smallest partial sum or rounded product per vector (B,), before saturation)."""
    acc_f = m.acc
    xb = max(abs(int(x.min())), abs(int(x.max()))).bit_length() if x.size else 1
    wb = max((abs(int(v)) for v in np.asarray(m.wv).ravel()), default=0).bit_length()
    kind = _carrier(max(xb + 1 + wb + max(acc_f.frac_bits - m.pf, 0), acc_f.width) + 2)
    xs = np.asarray(x).astype(kind) + m.offset
    b = len(x)
    acc = np.broadcast_to(m.bias_acc.astype(kind), (b, len(m.bias_acc))).copy()
    peak_hi = acc.max(axis=1) if acc.size else np.zeros(b, dtype=kind)
    peak_lo = acc.min(axis=1) if acc.size else np.zeros(b, dtype=kind)
    wv = np.asarray(m.wv).astype(kind)
    sat = not acc_f.overflow == "WRAP"
    for k in range(m.idx.shape[1]):
        w = wv[:, k]
        if not np.any(w != 0):
            continue
        prod = xs[:, m.idx[:, k]] * w[None, :]
        pr = _round_to(prod, m.pf, acc_f)
        p = acc_f.cast_raw(prod, m.pf)
        s = acc + np.asarray(p).astype(kind)
        if sat:
            peak_hi = np.maximum(peak_hi, np.maximum(pr.max(axis=1), s.max(axis=1)))
            peak_lo = np.minimum(peak_lo, np.minimum(pr.min(axis=1), s.min(axis=1)))
        acc = np.asarray(acc_f.cast_raw(s, acc_f.frac_bits)).astype(kind)
    if kind is np.int64 and acc_f.width + m.scale.bit_length() > 60:
        acc = acc.astype(object)
    return acc, peak_hi, peak_lo


def _chain_bounds(m: _Matrix, xlo: np.ndarray, xhi: np.ndarray) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Static bounds of the chain for inputs in [xlo, xhi] (per input element, flattened): (largest /
    smallest partial sum or rounded product of any row, before saturation; final accumulator interval
    per row lo, hi (object arrays of Python ints))."""
    acc_f = m.acc
    lim_lo, lim_hi = _sat_limits(acc_f)
    a = np.asarray(xlo, dtype=object).reshape(-1) + m.offset
    b = np.asarray(xhi, dtype=object).reshape(-1) + m.offset
    lo = np.asarray(m.bias_acc, dtype=object).copy()
    hi = lo.copy()
    top, bot = max(hi, default=0), min(lo, default=0)
    wv = np.asarray(m.wv, dtype=object)
    for k in range(m.idx.shape[1]):
        w = wv[:, k]
        c1, c2 = w * a[m.idx[:, k]], w * b[m.idx[:, k]]
        plo = np.asarray(_round_to(np.minimum(c1, c2), m.pf, acc_f), dtype=object)
        phi = np.asarray(_round_to(np.maximum(c1, c2), m.pf, acc_f), dtype=object)
        top, bot = max(top, int(phi.max())), min(bot, int(plo.min()))
        plo, phi = np.clip(plo, lim_lo, lim_hi), np.clip(phi, lim_lo, lim_hi)
        lo, hi = lo + plo, hi + phi
        top, bot = max(top, int(hi.max())), min(bot, int(lo.min()))
        if acc_f.overflow in ("SAT", "SAT_SYM"):
            lo, hi = np.clip(lo, lim_lo, lim_hi), np.clip(hi, lim_lo, lim_hi)
        else:  # WRAP / SAT_ZERO past the range: anything in the range (and 0)
            out = (lo < lim_lo) | (hi > lim_hi)
            lo = np.where(out, min(acc_f.raw_min, 0), lo)
            hi = np.where(out, max(acc_f.raw_max, 0), hi)
    return top, bot, lo, hi


def _matrix_lattice(m: _Matrix, xlat: tuple) -> tuple:
    """The pre-cast values' lattice (``_Lattice`` pair, in units of 2**-m.frac) of a matrix op whose inputs
    lie on lattice ``xlat``: every product, the bias, and the accumulator's saturation values (SAT)."""
    fa = m.acc.frac_bits
    gx = 0 if m.offset else _eff(xlat)
    vals = []
    vw = _valuation(m.wv)
    if vw is not None:
        t = vw + gx  # a product's valuation at the products' pf fractional bits
        vals.append(t + fa - m.pf if fa >= m.pf else max(t - (m.pf - fa), 0) if t >= m.pf - fa else 0)
    vb = _valuation(m.bias_acc)
    if vb is not None:
        vals.append(vb)
    g = min(vals, default=_G_NONE)
    extras = set()
    if m.acc.overflow in ("SAT", "SAT_SYM"):
        extras = set(_sat_limits(m.acc))
    vs = _valuation([m.scale]) or 0
    return g + vs, {e * m.scale for e in extras}


#: the valuation of a tensor that is always 0 (no non-zero value: any power of two divides it)
_G_NONE = 1 << 16


def _v2(e: int) -> int:
    return (e & -e).bit_length() - 1 if e else _G_NONE


def _eff(lat: tuple) -> int:
    """One valuation dividing every value of lattice ``lat`` = (g, extras): multiples of 2**g or in extras."""
    g, ex = lat
    return min([g] + [_v2(int(e)) for e in ex])


def _shift_lat(lat: tuple, s: int) -> tuple:
    """Lattice of the values times 2**s (s >= 0)."""
    g, ex = lat
    return g + s, {int(e) << s for e in ex}


class _Shim:
    """``graph`` seen by an op evaluator with the op's output tensor in another format (the pre-cast value)."""

    def __init__(self, graph, name: str, fmt):
        from hwq.ir.graph import Tensor

        t = graph.tensor(name)
        self._g, self._name, self._t = graph, name, Tensor(name, t.shape, fmt)

    def tensor(self, name: str):
        return self._t if name == self._name else self._g.tensor(name)

    def __getattr__(self, attr):
        return getattr(self._g, attr)


def _pre_format(op, graph) -> FixedFormat | None:
    """A WRAP/TRN format wide and fine enough that ``op``'s evaluator cast into it is exact (the pre-cast
    value), or None when ``op`` is not a single exact value cast to a fixed-point output."""
    if op.kind not in CAST_KINDS or not _fixed(graph.tensor(op.output).fmt):
        return None
    ins = [graph.tensor(n).fmt for n in op.inputs]
    if not all(_fixed(f) for f in ins):
        return None
    fr = [f.frac_bits for f in ins]
    wd = [f.width for f in ins]
    if op.kind == "requantize" and getattr(op, "mode", "cast") != "cast":
        return None
    if op.kind == "leaky_relu":
        f, bits = fr[0] + int(op.shift), wd[0] + int(op.shift) + 1
    elif op.kind == "mul":
        f, bits = sum(fr), sum(wd) + 1
    elif op.kind == "batchnorm":
        f = max(fr[0] + op.scale_fmt.frac_bits, op.bias_fmt.frac_bits)
        bits = (
            wd[0]
            + op.scale_fmt.width
            + op.bias_fmt.width
            + abs(fr[0] + op.scale_fmt.frac_bits - op.bias_fmt.frac_bits)
            + 2
        )
    else:
        f = max(fr)
        bits = max(w + f - g for w, g in zip(wd, fr)) + len(ins)
    bits += 2
    return FixedFormat(bits, bits - f, True, "TRN", "WRAP")


def _pre_lattice(op, graph, pre: FixedFormat, lats: dict) -> tuple:
    """The lattice (g, extras) of ``op``'s pre-cast values at ``pre``'s LSB from its inputs' lattices."""
    f = pre.frac_bits
    fr = [graph.tensor(n).fmt.frac_bits for n in op.inputs]
    il = [lats.get(n, (0, set())) for n in op.inputs]
    if op.kind in ("relu", "maxpool", "requantize"):
        return _shift_lat(il[0], f - fr[0])
    if op.kind == "clip":
        g, ex = _shift_lat(il[0], f - fr[0])
        return g, ex | {int(b) << (f - fr[0]) for b in (op.lo, op.hi) if b is not None}
    if op.kind == "concat":
        parts = [_shift_lat(lt, f - fi) for lt, fi in zip(il, fr)]
        return min(p[0] for p in parts), set().union(*(p[1] for p in parts))
    if op.kind in ("leaky_relu", "add"):
        return min(_eff(lt) + f - fi for lt, fi in zip(il, fr)), set()
    if op.kind == "mul":
        return sum(_eff(lt) for lt in il) + f - sum(fr), set()
    if op.kind == "batchnorm":
        vals = []
        vs = _valuation(op.scale)
        if vs is not None:
            vals.append(_eff(il[0]) + vs + f - fr[0] - op.scale_fmt.frac_bits)
        vb = _valuation(op.bias)
        if vb is not None:
            vals.append(vb + f - op.bias_fmt.frac_bits)
        return min(vals, default=_G_NONE), set()
    return 0, set()


def _eval_pre(op, graph, pre: FixedFormat, args: list[np.ndarray]) -> np.ndarray:
    from hwq.ir.ops import EVALUATORS

    return np.asarray(EVALUATORS[op.kind](op, args, _Shim(graph, op.output, pre)))


def _corners(op, graph, ranges: dict, fmt=None) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise (min, max) of ``op``'s output (in ``fmt``: a pre-cast format, else the op's own) over
    the corner inputs: each input all at its lower or all at its upper bound (``ranges``: tensor ->
    (lo, hi) raw arrays of its shape), every combination for up to 3 inputs (exact for the monotone,
    affine and bilinear element-wise ops)."""
    from itertools import product

    from hwq.ir.ops import EVALUATORS

    ext = [tuple(np.asarray(r, dtype=np.int64)[None] for r in ranges[n]) for n in op.inputs]
    combos = list(product(*ext)) if len(ext) <= 3 else [tuple(e[0] for e in ext), tuple(e[1] for e in ext)]
    g = graph if fmt is None else _Shim(graph, op.output, fmt)
    ys = [np.asarray(EVALUATORS[op.kind](op, list(c), g), dtype=object)[0] for c in combos]
    lo, hi = ys[0], ys[0]
    for y in ys[1:]:
        lo, hi = np.minimum(lo, y), np.maximum(hi, y)
    return lo, hi


def _tie_reachable(lo: int, hi: int, d: int, g: int) -> bool:
    """Whether some multiple of 2**g in [lo, hi] has its low d bits exactly 10..0."""
    if d < 1 or g > d - 1:
        return False
    half, span = 1 << (d - 1), 1 << d
    v = lo + ((half - lo) % span)
    return v <= hi


def _cast_interval(out, lo, hi, frac: int) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise bounds of ``out``'s cast of integers in [lo, hi] at ``frac`` fractional bits (rounding
    is monotone; SAT clips; WRAP past the range: anything; SAT_ZERO past the range: the part in range
    and 0)."""
    rlo = np.asarray(_round_to(np.asarray(lo, dtype=object), frac, out), dtype=object)
    rhi = np.asarray(_round_to(np.asarray(hi, dtype=object), frac, out), dtype=object)
    olo, ohi = _sat_limits(out)
    past = (rlo < olo) | (rhi > ohi)
    if out.overflow in ("SAT", "SAT_SYM"):
        return np.clip(rlo, olo, ohi), np.clip(rhi, olo, ohi)
    if out.overflow == "WRAP":  # an interval narrower than 2**W that wraps in one piece stays an interval
        span = 1 << out.width
        wlo, whi = (rlo - out.raw_min) % span + out.raw_min, (rhi - out.raw_min) % span + out.raw_min
        whole = (rhi - rlo < span) & (wlo <= whi)
        return np.where(whole, wlo, out.raw_min), np.where(whole, whi, out.raw_max)
    in_lo, in_hi = np.maximum(rlo, olo), np.minimum(rhi, ohi)
    some = in_lo <= in_hi
    zlo = np.where(some, np.minimum(in_lo, 0), 0)
    zhi = np.where(some, np.maximum(in_hi, 0), 0)
    return np.where(past, zlo, rlo), np.where(past, zhi, rhi)


def _cast_items(add, op, out, lo, hi, frac: int, lat: tuple) -> tuple:
    """out_max/out_min, cast_ovf_hi/lo and tie items of values in [lo, hi] (element-wise arrays) at
    ``frac`` bits on lattice ``lat`` cast to ``out``; returns the output's lattice."""
    lo = np.asarray(lo, dtype=object).reshape(-1)
    hi = np.asarray(hi, dtype=object).reshape(-1)
    rlo = np.asarray(_round_to(lo, frac, out), dtype=object)
    rhi = np.asarray(_round_to(hi, frac, out), dtype=object)
    ylo, yhi = _cast_interval(out, lo, hi, frac)
    olo, ohi = _sat_limits(out)
    ovf = bool(((rhi > ohi) | (rlo < olo)).any())
    add(op, "out_max", bool((yhi >= out.raw_max).any()))
    add(op, "out_min", bool((ylo <= out.raw_min).any()))
    add(op, "cast_ovf_hi", bool((rhi > ohi).any()))
    add(op, "cast_ovf_lo", bool((rlo < olo).any()))
    g, ex = lat
    d = frac - out.frac_bits
    if d >= 1 and out.rounding not in ROUNDING_FREE:
        half, span = 1 << (d - 1), 1 << d
        on_lattice = g <= d - 1 and bool((lo + ((half - lo) % span) <= hi).any())
        add(op, "tie", on_lattice or any(((lo <= e) & (e <= hi)).any() and e % span == half for e in ex))
    if d <= 0:
        g2, ex2 = g - d, {int(e) << -d for e in ex}
    else:
        g2 = g - d if g >= d else 0
        ex2 = {int(v) for v in out.cast_raw(np.asarray(sorted(ex), dtype=object), frac)} if ex else set()
    if ovf and out.overflow in ("SAT", "SAT_SYM"):
        ex2 |= {olo, ohi}
    if len(ex2) > 16:
        g2, ex2 = _eff((g2, ex2)), set()
    return min(g2, _G_NONE), ex2


def input_ranges(graph) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per tensor, element-wise raw bounds (lo, hi) (object arrays of the tensor's shape), propagated from
    each graph input's format range through every op (``items_of``'s interval analysis; inputs taken as
    independent, so a sound over-approximation)."""
    return _analyse(graph)[1]


def _full(t) -> tuple[np.ndarray, np.ndarray]:
    return (np.full(t.shape, int(t.fmt.raw_min), dtype=object), np.full(t.shape, int(t.fmt.raw_max), dtype=object))


def _analyse(graph) -> tuple[dict[str, Item], dict]:
    items: dict[str, Item] = {}
    ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lats: dict[str, tuple] = {}
    for n in graph.inputs:
        ranges[n] = _full(graph.tensor(n))
        lats[n] = (0, set())

    def add(op, kind, reachable):
        it = Item(op.name, kind, bool(reachable))
        items[it.key] = it

    for op in graph.ops:
        yt = graph.tensor(op.output)
        out = yt.fmt
        try:
            ranges[op.output], lats[op.output] = _op_items(op, graph, ranges, lats, add)
        except Exception:  # an op the interval analysis does not fit: its format's range, min/max reachable
            ranges[op.output], lats[op.output] = _full(yt), (0, set())
            if hasattr(out, "raw_max") and op.kind not in ("flatten", "reshape"):
                add(op, "out_max", True)
                add(op, "out_min", True)
    return items, ranges


def _op_items(op, graph, ranges: dict, lats: dict, add) -> tuple:
    """Add ``op``'s items (reachability from the input ``ranges`` and lattices ``lats``); returns its
    output's range (lo, hi arrays) and lattice (g, extras: every raw is a multiple of 2**g or in extras)."""
    yt = graph.tensor(op.output)
    out = yt.fmt
    if op.kind in ("flatten", "reshape"):
        lo, hi = ranges[op.inputs[0]]
        return (lo.reshape(yt.shape), hi.reshape(yt.shape)), lats[op.inputs[0]]
    if not hasattr(out, "raw_max"):
        return _full(yt), (0, set())
    m = _matrix(op, graph) if op.kind in MATRIX_KINDS else None
    if m is not None:
        xlo, xhi = ranges[op.inputs[0]]
        top, bot, flo, fhi = _chain_bounds(m, xlo, xhi)
        if m.acc.overflow != "WRAP":
            lim_lo, lim_hi = _sat_limits(m.acc)
            add(op, "acc_sat_hi", top > lim_hi)
            add(op, "acc_sat_lo", bot < lim_lo)
        if _fixed(out):
            lo, hi = flo * m.scale, fhi * m.scale
            lat = _cast_items(add, op, out, lo, hi, m.frac, _matrix_lattice(m, lats[op.inputs[0]]))
            ylo, yhi = _cast_interval(out, lo, hi, m.frac)
            return (ylo.reshape(yt.shape), yhi.reshape(yt.shape)), lat
        add(op, "out_max", True)  # a minifloat result: no interval analysis, count as reachable
        add(op, "out_min", True)
        return _full(yt), (0, set())
    if op.kind in MATRIX_KINDS:  # not monotone in its input: no corner evaluation, count as reachable
        add(op, "out_max", True)
        add(op, "out_min", True)
        return _full(yt), (0, set())
    pre = _pre_format(op, graph)
    if pre is not None:
        lo, hi = _corners(op, graph, ranges, pre)
        f = pre.frac_bits
        lat = _cast_items(add, op, out, lo, hi, f, _pre_lattice(op, graph, pre, lats))
        ylo, yhi = _cast_interval(out, lo, hi, f)
        return (ylo.reshape(yt.shape), yhi.reshape(yt.shape)), lat
    lat = (0, set())
    if op.kind == "lut":
        lo, hi = _lut_range(op, graph, ranges[op.inputs[0]])
        lo, hi = np.full(yt.shape, lo, dtype=object), np.full(yt.shape, hi, dtype=object)
        lat = (min(_valuation(op.table) if _valuation(op.table) is not None else _G_NONE, _G_NONE), set())
    else:
        lo, hi = _corners(op, graph, ranges)
    add(op, "out_max", int(hi.max()) >= out.raw_max)
    add(op, "out_min", int(lo.min()) <= out.raw_min)
    return (lo, hi), lat


def items_of(graph) -> dict[str, Item]:
    """The coverage items of ``graph`` with their static reachability (see the module doc)."""
    return _analyse(graph)[0]


def _lut_range(op, graph, rng=None) -> tuple[int, int]:
    """(min, max) of a LUT's entries over its input's raw range (``rng``: (lo, hi) arrays; default: the
    input format's range)."""
    xf = graph.tensor(op.inputs[0]).fmt
    lo, hi = (int(xf.raw_min), int(xf.raw_max)) if rng is None else (int(rng[0].min()), int(rng[1].max()))
    codes = np.asarray(xf.to_bits(np.arange(lo, hi + 1)), dtype=np.int64)
    t = np.asarray(op.table, dtype=object)[codes]
    return int(t.min()), int(t.max())


# ------------------------------------------------------------------------------------------ hits
@dataclass
class _OpTrace:
    """What the vectors did at one op: output raws (B, n), pre-cast values (B, n) at ``frac`` bits (None:
    no cast items), and the chain's largest / smallest partial sum per vector (None: no chain)."""

    out: np.ndarray
    pre: np.ndarray | None = None
    frac: int = 0
    peak_hi: np.ndarray | None = None
    peak_lo: np.ndarray | None = None


def trace_ops(graph, x: np.ndarray, ops: set[str] | None = None) -> dict[str, _OpTrace]:
    """Per op (all, or those named in ``ops``): the ``_OpTrace`` of raw input vectors ``x`` (B, *shape)."""
    from hwq.ir import run

    in_t = graph.tensor(graph.inputs[0])
    x = np.asarray(x, dtype=np.int64).reshape(-1, *in_t.shape)
    res = run(graph, {in_t.name: x}, trace=True)
    b = len(x)
    out: dict[str, _OpTrace] = {}
    for op in graph.ops:
        if ops is not None and op.name not in ops:
            continue
        tr = _OpTrace(np.asarray(res.raw[op.output]).reshape(b, -1))
        m = _matrix(op, graph) if op.kind in MATRIX_KINDS else None
        if m is not None:
            xin = np.asarray(res.raw[op.inputs[0]]).reshape(b, -1)
            acc, tr.peak_hi, tr.peak_lo = _chain(m, xin)
            tr.pre, tr.frac = acc * m.scale, m.frac
        else:
            pre = _pre_format(op, graph)
            if pre is not None:
                args = [np.asarray(res.raw[n]) for n in op.inputs]
                tr.pre, tr.frac = _eval_pre(op, graph, pre, args).reshape(b, -1), pre.frac_bits
        out[op.name] = tr
    return out


def _hit(graph, it: Item, tr: _OpTrace) -> np.ndarray:
    op = graph.op(it.op)
    fmt = graph.tensor(op.output).fmt
    b = len(tr.out)
    if it.kind == "out_max":
        return (tr.out == fmt.raw_max).any(axis=1)
    if it.kind == "out_min":
        return (tr.out == fmt.raw_min).any(axis=1)
    if it.kind in ("acc_sat_hi", "acc_sat_lo") and tr.peak_hi is not None:
        lo, hi = _sat_limits(op.acc_fmt)
        return np.asarray(tr.peak_hi > hi if it.kind == "acc_sat_hi" else tr.peak_lo < lo, dtype=bool)
    if tr.pre is None:
        return np.zeros(b, dtype=bool)
    if it.kind in ("cast_ovf_hi", "cast_ovf_lo"):
        r = _round_to(tr.pre, tr.frac, fmt)
        lo, hi = _sat_limits(fmt)
        return np.asarray((r > hi) if it.kind == "cast_ovf_hi" else (r < lo), dtype=bool).any(axis=1)
    if it.kind == "tie":
        d = tr.frac - fmt.frac_bits
        if d < 1:
            return np.zeros(b, dtype=bool)
        return np.asarray((tr.pre % (1 << d)) == (1 << (d - 1)), dtype=bool).any(axis=1)
    return np.zeros(b, dtype=bool)


def hit_matrix(graph, x: np.ndarray, items: list[Item]) -> np.ndarray:
    """(B, len(items)) bool: whether vector b hits item j (the interpreter's tensors)."""
    trs = trace_ops(graph, x, {it.op for it in items})
    b = len(np.asarray(x).reshape(-1, *graph.tensor(graph.inputs[0]).shape))
    out = np.zeros((b, len(items)), dtype=bool)
    for j, it in enumerate(items):
        out[:, j] = _hit(graph, it, trs[it.op])
    return out


def _measure(graph, it: Item, tr: _OpTrace) -> np.ndarray | None:
    """A per-vector score that grows toward item ``it`` (None: no hill climb for this kind)."""
    if it.kind == "out_max":
        return tr.out.max(axis=1).astype(float)
    if it.kind == "out_min":
        return -tr.out.min(axis=1).astype(float)
    if it.kind == "acc_sat_hi" and tr.peak_hi is not None:
        return np.asarray(tr.peak_hi, dtype=float)
    if it.kind == "acc_sat_lo" and tr.peak_lo is not None:
        return -np.asarray(tr.peak_lo, dtype=float)
    if it.kind == "cast_ovf_hi" and tr.pre is not None:
        return np.asarray(tr.pre.max(axis=1), dtype=float)
    if it.kind == "cast_ovf_lo" and tr.pre is not None:
        return -np.asarray(tr.pre.min(axis=1), dtype=float)
    return None


# ------------------------------------------------------------------------------------------ vectors
def _extreme_random(rng, fmt, shape, n: int) -> np.ndarray:
    lo, hi = int(fmt.raw_min), int(fmt.raw_max)
    r = rng.integers(lo, hi + 1, size=(n, *shape))
    pick = rng.random((n, *shape))
    return np.where(pick < 0.25, lo, np.where(pick < 0.5, hi, r)).astype(np.int64)


def _sign_patterns(graph, rng, rows: int = 64) -> np.ndarray | None:
    """Input vectors at the extremes following the weight signs of rows of the first matrix op that reads
    the graph input (max where the weight is positive, min where negative, random extremes elsewhere),
    and the reverse."""
    in_t = graph.tensor(graph.inputs[0])
    first = next((op for op in graph.ops if op.kind in MATRIX_KINDS and op.inputs[0] == in_t.name), None)
    m = _matrix(first, graph) if first is not None else None
    if m is None:
        return None
    lo, hi = int(in_t.fmt.raw_min), int(in_t.fmt.raw_max)
    pick = np.sort(rng.choice(len(m.idx), size=min(rows, len(m.idx)), replace=False))
    out = []
    for j in pick:
        base = rng.choice([lo, hi], size=in_t.size)
        pos, neg = base.copy(), base.copy()
        w = np.asarray(m.wv[j], dtype=object)
        cols = m.idx[j][w != 0]
        sg = np.asarray([int(v) > 0 for v in w[w != 0]])
        pos[cols] = np.where(sg, hi, lo)
        neg[cols] = np.where(sg, lo, hi)
        out += [pos, neg]
    return np.asarray(out, dtype=np.int64).reshape(-1, *in_t.shape)


def auto_vectors(graph, start: int = 16, seed: int = 0, rounds: int = 40, batch: int = 256):
    """Random vectors (``start``, seeded) plus directed ones until every reachable item is hit (or
    ``rounds`` search rounds of ``batch`` candidates ran out). Returns (raw inputs (N, *shape), Coverage)."""
    from hwq.commands.vectors import corner_inputs
    from hwq.ir.random_graph import random_inputs

    in_t = graph.tensor(graph.inputs[0])
    fmt = in_t.fmt
    cov = Coverage(graph, items_of(graph))
    x0 = np.asarray(random_inputs(graph, start, seed)[in_t.name], dtype=np.int64).reshape(-1, *in_t.shape)
    cov.add(x0)
    chosen = [x0]
    rng = np.random.default_rng(seed + 1)

    def offer(cands) -> None:
        if cands is None or not cov.missing() or not len(cands):
            return
        keys = list(cov.items)
        h = hit_matrix(graph, cands, list(cov.items.values()))
        want = np.array([cov.items[k].reachable and cov.items[k].hits == 0 for k in keys])
        for i in range(len(cands)):
            if (h[i] & want).any():
                cov.add(cands[i : i + 1])
                chosen.append(cands[i : i + 1])
                want &= ~h[i]
            if not want.any():
                break

    offer(corner_inputs(graph)[in_t.name])
    offer(_sign_patterns(graph, rng))
    for r in range(rounds):
        if not cov.missing():
            break
        offer(_extreme_random(rng, fmt, in_t.shape, batch))
        offer(np.asarray(random_inputs(graph, batch, seed + 1000 + r)[in_t.name], dtype=np.int64))
        for it in cov.missing()[:4]:
            offer(_climb(graph, it, rng, np.concatenate(chosen)))
    return np.concatenate(chosen), cov


def _climb(graph, it: Item, rng, pool: np.ndarray, steps: int = 30, width: int = 64) -> np.ndarray | None:
    """Hill climb toward item ``it``: mutate the best vectors (a few inputs set to random extremes) and keep
    the ``width`` with the highest measure (``_measure``); returns the first vector that hits, if any."""
    in_t = graph.tensor(graph.inputs[0])
    lo, hi = int(in_t.fmt.raw_min), int(in_t.fmt.raw_max)

    def score(x):
        tr = trace_ops(graph, x, {it.op})[it.op]
        s = _measure(graph, it, tr)
        return s, _hit(graph, it, tr)

    x = pool[rng.choice(len(pool), size=min(width, len(pool)), replace=False)]
    s, h = score(x)
    if s is None:
        return None
    for _ in range(steps):
        if h.any():
            break
        y = x.copy().reshape(len(x), -1)
        mask = rng.random(y.shape) < 0.1
        y[mask] = rng.choice([lo, hi], size=int(mask.sum()))
        y = y.reshape(x.shape)
        sy, hy = score(y)
        both = np.concatenate([x, y])
        sb, hb = np.concatenate([s, sy]), np.concatenate([h, hy])
        keep = np.argsort(-sb, kind="stable")[: len(x)]
        x, s, h = both[keep], sb[keep], hb[keep]
    return x[h][:1]


def random_vectors_to_cover(graph, target: set[str], seed: int = 0, cap: int = 20000, batch: int = 500):
    """How many plain random vectors (``random_inputs`` with ``seed``) hit every item key in ``target``;
    returns (vectors used, keys hit) — vectors == cap when they never do."""
    from hwq.ir.random_graph import random_inputs

    in_t = graph.tensor(graph.inputs[0])
    cov = Coverage(graph, items_of(graph))
    n = 0
    while n < cap:
        x = np.asarray(random_inputs(graph, batch, seed + n)[in_t.name], dtype=np.int64)
        h = hit_matrix(graph, x, list(cov.items.values()))
        keys = list(cov.items)
        for i in range(len(x)):
            for j in np.nonzero(h[i])[0]:
                cov.items[keys[j]].hits += 1
            n += 1
            hit = {k for k, it in cov.items.items() if it.hits}
            if target <= hit:
                return n, hit
    return n, {k for k, it in cov.items.items() if it.hits}


def stall_items(report: dict) -> dict:
    """Coverage items of back-pressure stalls from an RTL bench report (``tb_report.json``): one per
    stream (``stalls``) and one per pipeline stage of each layer (``stage_stalls``: {layer: [cycles per
    stage]}); an item is hit when its count of cycles with valid held by ready low is above 0.
    Returns {"items", "covered", "per_stage": {"layer:s<k>": cycles}, "not_stalled": [...]}."""
    per: dict[str, int] = {}
    for name, n in (report.get("stalls") or {}).items():
        per[f"{name}:stream"] = int(n)
    for layer, counts in (report.get("stage_stalls") or {}).items():
        for k, n in enumerate(counts, start=1):
            per[f"{layer}:s{k}"] = int(n)
    return {
        "items": len(per),
        "covered": sum(n > 0 for n in per.values()),
        "per_stage": per,
        "not_stalled": [k for k, n in per.items() if n == 0],
    }
