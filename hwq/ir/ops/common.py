"""Integer helpers shared by the op modules: casts, exact matrix products and ordered accumulation.

Every helper takes and returns raw integer ndarrays: ``int64`` where all values provably fit in 62
bits, else ``object`` arrays of Python ints. Nothing here rounds except through a format's
``cast_raw``; float64 is used only as a carrier for integer matrix products whose every partial sum
is provably below 2**53 in magnitude (so the float result is the exact integer).
"""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat

#: values up to this many bits (magnitude) are carried exactly by float64 through any summation order.
_FLOAT_EXACT_BITS = 52
#: int64 arithmetic is used while magnitudes stay below 2**62.
_INT64_BITS = 62
#: soft cap on the number of elements of a materialised (batch, ..., K) product array.
_CHUNK_ELEMENTS = 1 << 22


def cast_to(raw: np.ndarray, from_frac_bits: int, fmt) -> np.ndarray:
    """Cast raw integers at ``from_frac_bits`` into ``fmt`` (any format with ``cast_raw``).

    Shortcut (same result, fewer passes): a fixed-point cast that drops no bits and whose values all lie
    inside the format's range is an exact left shift, so rounding and overflow handling are skipped.
    """
    raw = np.asarray(raw)
    if isinstance(fmt, FixedFormat) and raw.dtype != object and raw.size and fmt.width <= _INT64_BITS:
        s = fmt.frac_bits - from_frac_bits
        if 0 <= s <= _INT64_BITS:
            lo, hi = _acc_limits(fmt)
            rmin, rmax = int(raw.min()), int(raw.max())
            if lo <= rmin << s and rmax << s <= hi:
                return raw.astype(np.int64, copy=False) << s if s else raw.astype(np.int64, copy=False)
    return fmt.cast_raw(raw, from_frac_bits)


def max_abs(a: np.ndarray) -> int:
    """Largest magnitude in an integer array, as a Python int (0 for an empty array)."""
    a = np.asarray(a)
    if a.size == 0:
        return 0
    return max(abs(int(a.min())), abs(int(a.max())))


def as_ints(a: np.ndarray, bits: int) -> np.ndarray:
    """``a`` as int64 when ``bits`` (a bound on every magnitude's bit length) is at most 62, else object."""
    a = np.asarray(a)
    if bits > _INT64_BITS:
        return a if a.dtype == object else a.astype(object)
    if a.dtype == object:
        return a.astype(np.int64)
    return a.astype(np.int64, copy=False)


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer product; falls back to Python ints when int64 could overflow."""
    if max_abs(a).bit_length() + max_abs(b).bit_length() > _INT64_BITS:
        return np.asarray(a).astype(object) * np.asarray(b).astype(object)
    return np.asarray(a).astype(np.int64) * np.asarray(b).astype(np.int64)


def exact_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact element-wise integer product (broadcast); int64 when it provably fits, else object."""
    return _mul(a, b)


def shift_left(a: np.ndarray, s: int) -> np.ndarray:
    """Exact ``a * 2**s`` for s >= 0 (object ints where int64 could overflow)."""
    if s == 0:
        return a
    a = as_ints(a, max_abs(a).bit_length() + s)
    return a << s


def accumulate_products(
    a: np.ndarray,
    b: np.ndarray,
    prod_frac_bits: int,
    init: np.ndarray,
    init_frac_bits: int,
    acc_fmt: FixedFormat,
) -> np.ndarray:
    """hls4ml-ordered multiply-accumulate over the last axis of ``a * b`` (broadcast).

    acc = cast(init); for each term t along the last axis, in order:
    acc = cast(acc + cast(a[..., t] * b[..., t])), every cast to ``acc_fmt`` with its modes.
    ``init`` broadcasts against ``(a * b)[..., 0]``. Returns raw integers in ``acc_fmt``.
    Reference (materialising) implementation; ``mac`` is the fast equivalent used by the ops.
    """
    prods = _mul(a, b)
    terms = acc_fmt.cast_raw(prods, prod_frac_bits)
    acc = acc_fmt.cast_raw(np.broadcast_to(init, prods.shape[:-1]), init_frac_bits)
    if acc_fmt.overflow == "WRAP":
        total = acc + np.sum(terms, axis=-1, dtype=terms.dtype)
        return acc_fmt.cast_raw(total, acc_fmt.frac_bits)
    for t in range(terms.shape[-1]):
        acc = acc_fmt.cast_raw(acc + terms[..., t], acc_fmt.frac_bits)
    return acc


def _acc_limits(acc_fmt: FixedFormat) -> tuple[int, int]:
    """Range of raw values that no cast to ``acc_fmt`` alters (SAT_SYM excludes the signed minimum)."""
    lo, hi = acc_fmt.raw_min, acc_fmt.raw_max
    if acc_fmt.overflow == "SAT_SYM" and acc_fmt.signed:
        lo = -hi
    return lo, hi


def _no_overflow_possible(x_lo: int, x_hi: int, w, shift: int, bias_acc, acc_fmt: FixedFormat) -> bool:
    """True when no product term and no partial sum of ``bias_acc + sum(terms)`` can leave the range of
    ``acc_fmt``, for any order of the terms, for inputs in [x_lo, x_hi] (x_lo <= 0 <= x_hi).

    Each term ``w*x << shift`` lies in [t_lo, t_hi] with t_lo <= 0 <= t_hi, so every partial sum lies
    in [b + sum(t_lo), b + sum(t_hi)] and every single term in [sum(t_lo), sum(t_hi)].
    """
    wo = np.asarray(w).astype(object)
    wpos = np.where(wo > 0, wo, 0).sum(axis=-1)  # (G, M) Python ints
    wneg = np.where(wo < 0, wo, 0).sum(axis=-1)
    s_hi = (wpos * x_hi + wneg * x_lo) * (1 << shift)
    s_lo = (wpos * x_lo + wneg * x_hi) * (1 << shift)
    b = np.asarray(bias_acc).astype(object)
    lo, hi = _acc_limits(acc_fmt)
    worst_hi = max(int(np.max(s_hi + b)), int(np.max(s_hi)))
    worst_lo = min(int(np.min(s_lo + b)), int(np.min(s_lo)))
    return lo <= worst_lo and worst_hi <= hi


def value_range(x: np.ndarray) -> tuple[int, int]:
    """(min, max) of an integer array widened to include 0, as Python ints."""
    if x.size == 0:
        return 0, 0
    return min(int(x.min()), 0), max(int(x.max()), 0)


def mac_plan(x_lo: int, x_hi: int, w: np.ndarray, prod_frac_bits: int, bias_acc, acc_fmt: FixedFormat) -> str:
    """How ``mac`` evaluates for inputs in [x_lo, x_hi]: ``"float"``, ``"int"`` or ``"object"`` (one exact
    matrix product carried in float64 / int64 / Python ints), or ``"ordered"`` (term by term).

    One matrix product is exact when no product needs rounding (product LSB >= accumulator LSB) and the
    accumulator either wraps (arithmetic mod 2**W: per-step wrapping equals one final wrap) or provably
    never overflows. float64 carries it exactly while every partial sum stays below 2**52.
    """
    shift = acc_fmt.frac_bits - prod_frac_bits
    if shift < 0:
        return "ordered"
    if acc_fmt.overflow != "WRAP" and not _no_overflow_possible(x_lo, x_hi, w, shift, bias_acc, acc_fmt):
        return "ordered"
    k = w.shape[-1]
    bits = max(-x_lo, x_hi).bit_length() + max_abs(w).bit_length() + max(k, 1).bit_length()
    if bits <= _FLOAT_EXACT_BITS and np.asarray(w).dtype != object:
        return "float"
    return "int" if bits <= _INT64_BITS else "object"


def mac(
    cols: np.ndarray,
    w: np.ndarray,
    prod_frac_bits: int,
    bias: np.ndarray,
    bias_frac_bits: int,
    acc_fmt: FixedFormat,
    plan: str | None = None,
) -> np.ndarray:
    """Grouped multiply-accumulate with hls4ml's exact accumulation semantics, vectorised.

    cols: raw ``(B, G, P, K)`` (P output positions, K reduction terms in accumulation order);
    w: raw ``(G, M, K)``; bias: raw ``(G, M)`` at ``bias_frac_bits``; products x*w have
    ``prod_frac_bits`` fractional bits. Per (b, g, m, p)::

        acc = cast_acc(bias[g, m])
        for k in 0 .. K-1:  acc = cast_acc(acc + cast_acc(cols[b, g, p, k] * w[g, m, k]))

    Returns acc raw ``(B, G, M, P)`` in ``acc_fmt``. ``plan`` (from ``mac_plan`` over the range of cols;
    computed when None) selects one exact matrix product or the term-by-term loop over K. With plan
    ``"float"`` cols may already be float64 (holding integers).
    """
    bsz, g, p, k = cols.shape
    m = w.shape[1]
    bias_acc = acc_fmt.cast_raw(np.asarray(bias), bias_frac_bits)  # (G, M)
    shift = acc_fmt.frac_bits - prod_frac_bits
    if k == 0:
        out = np.broadcast_to(np.asarray(bias_acc)[None, :, :, None], (bsz, g, m, p))
        return np.array(out)
    if plan is None:
        plan = mac_plan(*value_range(cols), w, prod_frac_bits, bias_acc, acc_fmt)
    if plan != "ordered":
        carrier = {"float": np.float64, "int": np.int64, "object": object}[plan]
        parts = []
        for gi in range(g):  # one 2-D GEMM per group: (B*P, K) @ (K, M)
            a = cols[:, gi].reshape(bsz * p, k).astype(carrier, copy=False)
            parts.append((a @ w[gi].T.astype(carrier)).reshape(bsz, p, m))
        prod = parts[0][:, None] if g == 1 else np.stack(parts, axis=1)  # (B, G, P, M)
        if plan == "float":
            prod = prod.astype(np.int64)  # exact: every partial sum is an integer below 2**52
        prod = np.swapaxes(prod, -1, -2)  # (B, G, M, P)
        total = shift_left(prod, shift)
        bits = max(max_abs(total).bit_length(), max_abs(bias_acc).bit_length()) + 1
        total = as_ints(total, bits) + as_ints(np.asarray(bias_acc), bits)[None, :, :, None]
        return cast_to(total, acc_fmt.frac_bits, acc_fmt)  # WRAP: one final wrap; else in range already
    # General path: materialise the products chunk by chunk over the batch.
    per_sample = max(g * m * p * k, 1)
    step = max(1, _CHUNK_ELEMENTS // per_sample)
    outs = []
    for s0 in range(0, bsz, step):
        c = cols[s0 : s0 + step]  # (b, G, P, K)
        a = c[:, :, None, :, :]  # (b, G, 1, P, K)
        ww = w[None, :, :, None, :]  # (1, G, M, 1, K)
        init = np.asarray(bias)[None, :, :, None]
        outs.append(accumulate_products(a, ww, prod_frac_bits, init, bias_frac_bits, acc_fmt))
    if not outs:
        return np.zeros((0, g, m, p), dtype=np.int64 if acc_fmt.width <= _INT64_BITS else object)
    return np.concatenate(outs, axis=0)


def op_error(op, msg: str):
    """A GraphError whose message starts with the op's name and kind."""
    from ..graph import GraphError

    return GraphError(f"op {op.name!r} ({op.kind}): {msg}")


def check_arity(op, n: int | None = 1) -> None:
    """Raise unless the op has exactly ``n`` inputs (``None``: at least one)."""
    if n is None:
        if len(op.inputs) < 1:
            raise op_error(op, "takes at least 1 input, got 0")
    elif len(op.inputs) != n:
        raise op_error(op, f"takes {n} input{'s' if n != 1 else ''}, got {len(op.inputs)}")


def is_affine(fmt) -> bool:
    """True for an affine integer format (``int<W,...>``/``uint<W,...>``, kind ``"int"``)."""
    return getattr(fmt, "kind", None) == "int"


def raw_frac_bits(fmt) -> int:
    """Fractional bits F with which an integer op reads ``fmt``'s raws (real = raw * 2**-F).

    Fixed point and minifloats: their ``frac_bits``. Affine integer formats: their ``frac_bits`` when the
    scale is a power of two and the zero point 0 (per tensor), else 0: the raws are then taken as plain
    integers and the real scale (and zero point) is carried by a dyadic ``requantize`` and the ops'
    ``input_offset`` / ``out_offset`` attributes (CMSIS-NN arithmetic).
    """
    if is_affine(fmt):
        try:
            return fmt.frac_bits
        except ValueError:
            return 0
    return fmt.frac_bits


def check_format(op, what: str, fmt, fixed: bool = False, affine: bool = False) -> None:
    """Raise unless ``fmt`` is a number format object (a FixedFormat when ``fixed``; with ``affine`` also
    any affine ``int<W,...>`` format, per tensor or per channel, read through ``raw_frac_bits``)."""
    if affine and is_affine(fmt):
        return
    if fixed:
        if not isinstance(fmt, FixedFormat):
            raise op_error(op, f"{what} must be a fixed format (fixed<W,I,...>), got {fmt!r}")
    else:
        try:
            ok = hasattr(fmt, "cast_raw") and isinstance(fmt.frac_bits, int)
        except (AttributeError, ValueError):  # e.g. an affine int format without a power-of-two scale
            ok = False
        if not ok:
            raise op_error(op, f"{what} must be a number format with a power-of-two LSB, got {fmt}")


def check_int_param(op, what: str, arr, fmt, shape: tuple | None = None, affine: bool = False) -> None:
    """Raise unless ``arr`` is an integer ndarray (int64 or Python-int object) of ``shape`` whose
    values are raws of ``fmt`` (within its raw range); ``affine`` also admits ``int<W,...>`` formats."""
    if not isinstance(arr, np.ndarray):
        raise op_error(op, f"{what} must be an integer ndarray, got {type(arr).__name__}")
    if arr.dtype.kind == "f":
        raise op_error(op, f"{what} holds floats; quantise it to {fmt} first (hwq.ir.passes.fold_constants)")
    if arr.dtype != object and arr.dtype.kind not in "iu":
        raise op_error(op, f"{what} must hold integers, got dtype {arr.dtype}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise op_error(op, f"{what} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
    check_format(op, f"the format of {what}", fmt, affine=affine)
    lo, hi = getattr(fmt, "raw_min", None), getattr(fmt, "raw_max", None)
    if arr.size and lo is not None and hi is not None:
        amin, amax = int(arr.min()), int(arr.max())
        if amin < lo or amax > hi:
            raise op_error(op, f"{what} has raw values in [{amin}, {amax}], outside {fmt} [{lo}, {hi}]")
    if arr.size and not isinstance(fmt, FixedFormat) and not is_affine(fmt):
        # minifloat / CSD: only some raws in the range are values of the format; casting a value to its
        # own format leaves it unchanged, anything else moves
        back = np.asarray(fmt.cast_raw(arr, fmt.frac_bits))
        bad = np.argwhere(back.astype(object) != arr.astype(object))
        if bad.size:
            v = arr[tuple(bad[0])]
            raise op_error(op, f"{what} holds raw {int(v)} at {tuple(int(i) for i in bad[0])}, not a value of {fmt}")


def int_tuple(op, what: str, v, n: int, minimum: int) -> tuple[int, ...]:
    """Validate a tuple of ``n`` ints each >= ``minimum``."""
    t = tuple(v) if isinstance(v, (tuple, list)) else None
    if t is None or len(t) != n or not all(isinstance(i, (int, np.integer)) and int(i) >= minimum for i in t):
        raise op_error(op, f"{what} must be {n} integers >= {minimum}, got {v!r}")
    return tuple(int(i) for i in t)


def check_elementwise_shapes(op, graph) -> None:
    """Raise GraphError naming ``op`` unless its two inputs and its output have one shape."""
    check_arity(op, 2)
    a, b = (graph.tensor(n) for n in op.inputs)
    y = graph.tensor(op.output)
    if not (a.shape == b.shape == y.shape):
        raise op_error(op, f"shapes must match: {a.name!r} {a.shape}, {b.name!r} {b.shape}, {y.name!r} {y.shape}")


def check_offset(op, what: str, v) -> int:
    """Raise naming the op unless ``v`` is an integer in int32 range (an input/output offset, as CMSIS-NN's
    ``int32_t`` offsets); returns it as int."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not -(1 << 31) <= int(v) < (1 << 31):
        raise op_error(op, f"{what} must be an int32 integer, got {v!r}")
    return int(v)


def add_offset(x: np.ndarray, offset: int) -> np.ndarray:
    """Exact ``x + offset`` of raw integers (int64 when it provably fits, else Python ints)."""
    if not offset:
        return x
    bits = max(max_abs(x).bit_length(), abs(int(offset)).bit_length()) + 1
    return as_ints(x, bits) + offset


def wrap_int(v, bits: int = 32):
    """Two's complement wrap of integers (int64/object ndarray or int) to ``bits`` bits (C int32/int64)."""
    half = 1 << (bits - 1)
    if isinstance(v, np.ndarray) and v.dtype != object and bits >= 64:
        return v
    return ((v + half) % (1 << bits)) - half
