"""Exact construction of IR graphs from already-quantised models (Brevitas modules, QONNX files).

Both importers describe a model as uniform quantisers and integer layers; this module turns that
description into IR ops and refuses, naming the layer, whatever the IR cannot reproduce exactly.

A uniform quantiser (Brevitas ``IntQuant``, QONNX ``Quant``) maps a real x to
``q = clamp(round(x / scale) + zero_point, qmin, qmax)`` and represents ``scale * (q - zero_point)``.
It is a fixed-point format exactly when ``scale = 2**-F`` (F an integer) and ``zero_point = 0``:
then ``q`` is the raw value of ``fixed<bits, bits - F>`` (``ufixed`` when unsigned), ``round`` is the
format's rounding (``torch.round`` / ONNX ``ROUND``: ties to even, ``RND_CONV``; floor: ``TRN``; toward
zero: ``TRN_ZERO``) and the clamp its overflow (``SAT``, or ``SAT_SYM`` for a signed narrow range).

Layers (dense, conv) in those tools run in float32: every product of a power-of-two-scaled input
and weight is exact, and so is every partial sum as long as it fits float32's 24-bit significand on
the accumulator grid. ``check_float32_exact`` proves that bound from the integer weights and input
ranges; a layer that fails it is refused, since float32 rounding is not an integer machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from hwq.formats import FixedFormat
from hwq.io import sanitize_identifier
from hwq.ir import Graph, GraphError
from hwq.ir.ops import Conv1d, Conv2d, Dense, Flatten, MaxPool, ReLU, Requantize

#: float32 represents every integer up to 2**24 exactly (24-bit significand).
FLOAT32_EXACT_BITS = 24

ROUNDING = {"round": "RND_CONV", "floor": "TRN", "round_to_zero": "TRN_ZERO"}


class InteropError(GraphError):
    """A model that cannot become hwq IR exactly; the message names the layer and the reason."""


@dataclass(frozen=True)
class UniformQuant:
    """A uniform quantiser: ``value = scale * (q - zero_point)``, q clamped to ``bits`` (signed/narrow).

    scale, zero_point: per-tensor floats (per-channel scales go through ``channel_frac_bits``);
    rounding: ``round`` (ties to even), ``floor`` or ``round_to_zero``.
    """

    bits: int
    signed: bool
    narrow: bool
    scale: float
    zero_point: float = 0.0
    rounding: str = "round"


def power_of_two_exponent(scale: float, what: str) -> int:
    """F such that ``scale == 2**-F`` exactly; InteropError naming ``what`` otherwise."""
    s = Fraction(float(scale))
    if s <= 0:
        raise InteropError(f"{what}: scale {float(scale)!r} must be positive")
    num, den = s.numerator, s.denominator
    if num == 1 and den & (den - 1) == 0:
        return den.bit_length() - 1
    if den == 1 and num & (num - 1) == 0:
        return -(num.bit_length() - 1)
    raise InteropError(
        f"{what}: scale {float(scale)!r} is not a power of two; its float32 requantisation has no exact "
        "integer equivalent in fixed point (use a fixed-point quantiser, e.g. Brevitas *FixedPoint, or hwq's "
        "CMSIS-NN profile for real-valued scales)"
    )


def fixed_format(q: UniformQuant, what: str) -> FixedFormat:
    """The FixedFormat whose raws are exactly ``q``'s integers (see the module docstring)."""
    if q.zero_point != 0:
        raise InteropError(
            f"{what}: zero point {q.zero_point!r} is not 0; only symmetric/unsigned grids map to fixed point"
        )
    bits = int(q.bits)
    if bits != q.bits or not 1 <= bits <= 64:
        raise InteropError(f"{what}: bit width {q.bits!r} must be an integer in 1..64")
    if q.rounding not in ROUNDING:
        raise InteropError(f"{what}: rounding {q.rounding!r} is not supported (known: {', '.join(ROUNDING)})")
    frac = power_of_two_exponent(q.scale, what)
    overflow = "SAT_SYM" if (q.narrow and q.signed) else "SAT"
    if q.narrow and not q.signed:
        raise InteropError(f"{what}: an unsigned narrow range has no fixed-point equivalent")
    return FixedFormat(bits, bits - frac, bool(q.signed), ROUNDING[q.rounding], overflow)


def channel_frac_bits(scales: np.ndarray, what: str) -> np.ndarray:
    """Per-channel F_c with ``scales[c] == 2**-F_c`` (power-of-two per-channel weight scales)."""
    return np.array([power_of_two_exponent(float(s), f"{what} channel {i}") for i, s in enumerate(np.ravel(scales))])


def exact_raws(values: np.ndarray, what: str, max_frac_bits: int = 160) -> tuple[np.ndarray, int]:
    """Integers r and the smallest F with ``values == r * 2**-F`` exactly (float values are dyadic)."""
    vals = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(vals)):
        raise InteropError(f"{what}: holds inf or NaN")
    frac = 0
    for v in vals:
        if v != 0:
            den = Fraction(float(v)).denominator
            frac = max(frac, den.bit_length() - 1)
    if frac > max_frac_bits:
        raise InteropError(f"{what}: needs {frac} fractional bits")
    raws = np.array([int(Fraction(float(v)) * (1 << frac)) for v in vals], dtype=object)
    return raws.reshape(np.shape(values)), frac


def _raw_range(fmt) -> tuple[int, int]:
    return int(fmt.raw_min), int(fmt.raw_max)


class GraphBuilder:
    """Builds an IR graph layer by layer; every method returns the name of the tensor it writes.

    Names are sanitised and made unique (``hwq.io.unique_identifiers`` rules) from the layer names.
    """

    def __init__(self, name: str, float32_exact: bool = True) -> None:
        self.graph = Graph(name, [], [])
        self.float32_exact = float32_exact
        self._used: set[str] = set()

    def _name(self, base: str) -> str:
        """A sanitised identifier from ``base``, made unique with ``_2``, ``_3``, ... suffixes."""
        stem = sanitize_identifier(base, "t")
        name, k = stem, 2
        while name in self._used:
            name, k = f"{stem}_{k}", k + 1
        self._used.add(name)
        return name

    def fmt(self, tensor: str):
        """The format of a built tensor."""
        return self.graph.tensor(tensor).fmt

    def shape(self, tensor: str) -> tuple[int, ...]:
        """The shape (no batch) of a built tensor."""
        return self.graph.tensor(tensor).shape

    def input(self, name: str, shape: tuple[int, ...], fmt: FixedFormat) -> str:
        """A graph input of ``fmt`` (raws are the quantiser's integers)."""
        t = self._name(name)
        self.graph.add_tensor(t, shape, fmt)
        self.graph.inputs.append(t)
        return t

    def output(self, tensor: str) -> None:
        """Mark ``tensor`` as a graph output."""
        self.graph.outputs.append(tensor)

    def _linear(self, name, what, x, w_ints, w_scales, bias, out_shape, make_op) -> str:
        """Shared part of dense/conv: exact weight raws, bias raws, accumulator, float32 exactness check."""
        xf = self.fmt(x)
        if not isinstance(xf, FixedFormat):
            raise InteropError(f"{what}: input {x!r} has format {xf}, expected fixed point")
        w_ints = np.asarray(w_ints, dtype=np.int64)
        cout = w_ints.shape[0]
        scales = np.broadcast_to(np.asarray(w_scales, dtype=np.float64).ravel(), (cout,))
        fc = channel_frac_bits(scales, f"{what}: weight scale")
        fw = int(fc.max())
        shape_tail = (1,) * (w_ints.ndim - 1)
        w_raw = w_ints * (np.int64(1) << (fw - fc)).reshape(-1, *shape_tail)
        wmax = int(np.abs(w_raw).max()) if w_raw.size else 0
        w_fmt = FixedFormat(max(wmax.bit_length() + 1, 2), max(wmax.bit_length() + 1, 2) - fw, True)
        prod_frac = xf.frac_bits + fw
        if bias is None:
            b_raw, fb = np.zeros(cout, dtype=object), 0
        else:
            b_raw, fb = exact_raws(np.asarray(bias, dtype=np.float64), f"{what}: bias")
        facc = max(prod_frac, fb)
        xlo, xhi = _raw_range(xf)
        xmag = max(abs(xlo), abs(xhi))
        w_abs = np.abs(w_raw.reshape(cout, -1)).astype(object).sum(axis=1)
        b_acc = np.array([int(b) << (facc - fb) for b in b_raw], dtype=object)
        bound = max(int(w_abs[c] * xmag << (facc - prod_frac)) + abs(int(b_acc[c])) for c in range(cout))
        bits = max(bound.bit_length(), 1)
        if self.float32_exact and bits > FLOAT32_EXACT_BITS:
            hint = (
                "quantise the bias on the accumulator grid (Brevitas bias_quant=Int16Bias/Int32Bias)"
                if fb > prod_frac
                else "use narrower inputs/weights or fewer inputs per output"
            )
            raise InteropError(
                f"{what}: sums reach {bits} bits on the accumulator grid (2**-{facc}); float32 keeps 24, so the "
                f"source's float32 arithmetic rounds and cannot be reproduced exactly: {hint}"
            )
        acc_fmt = FixedFormat(bits + 1, bits + 1 - facc, True, "TRN", "WRAP")
        b_fmt_bits = max(max((abs(int(b)) for b in b_acc), default=0).bit_length() + 1, 2)
        b_fmt = FixedFormat(b_fmt_bits, b_fmt_bits - facc, True)
        b_arr = np.array([int(b) for b in b_acc], dtype=np.int64)
        y = self._name(name)
        self.graph.add_tensor(y, out_shape, acc_fmt)
        self.graph.add_op(make_op(y, w_raw.astype(np.int64), b_arr, w_fmt, b_fmt, acc_fmt))
        return y

    def dense(self, name: str, x: str, w_ints, w_scales, bias, what: str | None = None) -> str:
        """Dense (M, N) with integer weights at per-tensor or per-output-channel power-of-two scales.

        bias: float values (or None). The output tensor is the exact accumulator (no rounding); a
        following ``quant`` or ``relu`` casts it like the source's next quantiser does.
        """
        m = int(np.shape(w_ints)[0])

        def make(y, w, b, wf, bf, af):
            return Dense(self._name(name + "_op"), [x], y, w, b, wf, bf, af)

        return self._linear(name, what or f"layer {name!r} (dense)", x, w_ints, w_scales, bias, (m,), make)

    def conv(
        self, name: str, x: str, w_ints, w_scales, bias, stride, padding, dilation, groups: int, what: str | None = None
    ) -> str:
        """Conv1d/Conv2d (by the weight's rank) with zero padding; see ``dense`` for scales and bias.

        stride, dilation: one int per spatial axis; padding: one (lo, hi) pair per spatial axis.
        """
        w = np.asarray(w_ints)
        nd = w.ndim - 2
        xs = self.shape(x)
        spatial = []
        for a in range(nd):
            n = xs[1 + a] + padding[a][0] + padding[a][1] - dilation[a] * (w.shape[2 + a] - 1) - 1
            spatial.append(n // stride[a] + 1)
        out_shape = (w.shape[0], *spatial)
        if nd == 2:
            pad = (padding[0][0], padding[0][1], padding[1][0], padding[1][1])

            def make(y, wr, b, wf, bf, af):
                return Conv2d(
                    self._name(name + "_op"), [x], y, wr, b, wf, bf, af,
                    stride=tuple(stride), padding=pad, dilation=tuple(dilation), groups=int(groups),
                )  # fmt: skip
        elif nd == 1:

            def make(y, wr, b, wf, bf, af):
                return Conv1d(
                    self._name(name + "_op"), [x], y, wr, b, wf, bf, af,
                    stride=int(stride[0]), padding=tuple(padding[0]), dilation=int(dilation[0]), groups=int(groups),
                )  # fmt: skip
        else:
            raise InteropError(f"{what or name}: {nd}-D convolution is not supported (1-D and 2-D only)")
        return self._linear(name, what or f"layer {name!r} (conv)", x, w, w_scales, bias, out_shape, make)

    def relu(self, name: str, x: str, fmt: FixedFormat | None = None) -> str:
        """``cast_fmt(max(x, 0))``; without ``fmt`` the input's format, unsigned (exact, no rounding)."""
        xf = self.fmt(x)
        if fmt is None:
            fmt = FixedFormat(max(xf.width - 1, 1), xf.int_bits - 1, False, "TRN", "WRAP") if xf.signed else xf
        y = self._name(name)
        self.graph.add_tensor(y, self.shape(x), fmt)
        self.graph.add_op(ReLU(self._name(name + "_op"), [x], y))
        return y

    def quant(self, name: str, x: str, fmt: FixedFormat) -> str:
        """Requantize (cast) ``x`` into ``fmt`` with its rounding and overflow."""
        if self.fmt(x) == fmt:
            return x
        y = self._name(name)
        self.graph.add_tensor(y, self.shape(x), fmt)
        self.graph.add_op(Requantize(self._name(name + "_op"), [x], y, mode="cast"))
        return y

    def maxpool(self, name: str, x: str, kernel, stride, padding) -> str:
        """Max pooling (format unchanged). kernel/stride per spatial axis; padding (lo, hi) per axis."""
        xs = self.shape(x)
        nd = len(kernel)
        spatial = [(xs[1 + a] + padding[a][0] + padding[a][1] - kernel[a]) // stride[a] + 1 for a in range(nd)]
        y = self._name(name)
        self.graph.add_tensor(y, (xs[0], *spatial), self.fmt(x))
        pad = tuple(p for pr in padding for p in pr)
        self.graph.add_op(
            MaxPool(self._name(name + "_op"), [x], y, kernel=tuple(kernel), stride=tuple(stride), padding=pad)
        )
        return y

    def flatten(self, name: str, x: str) -> str:
        """Row-major flatten to 1-D (the IR's and PyTorch's C order)."""
        if len(self.shape(x)) == 1:
            return x
        y = self._name(name)
        self.graph.add_tensor(y, (math.prod(self.shape(x)),), self.fmt(x))
        self.graph.add_op(Flatten(self._name(name + "_op"), [x], y))
        return y

    def add(self, name: str, a: str, b: str, fmt: FixedFormat | None = None) -> str:
        """Element-wise a + b: exact sum, then a cast to ``fmt`` (default: the exact sum's format)."""
        from hwq.formats import add_format
        from hwq.ir.ops import Add

        if self.shape(a) != self.shape(b):
            raise InteropError(f"{name}: adds tensors of shapes {self.shape(a)} and {self.shape(b)}")
        fmt = fmt or add_format(self.fmt(a), self.fmt(b))
        y = self._name(name)
        self.graph.add_tensor(y, self.shape(a), fmt)
        self.graph.add_op(Add(self._name(name + "_op"), [a, b], y))
        return y

    def finish(self) -> Graph:
        """The validated graph."""
        if not self.graph.inputs or not self.graph.outputs:
            raise InteropError(f"model {self.graph.name!r}: no input or no output was found")
        self.graph.validate()
        return self.graph
