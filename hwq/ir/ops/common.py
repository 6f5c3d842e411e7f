"""Integer helpers shared by the op modules: casts and ordered accumulation."""

from __future__ import annotations

import numpy as np

from hwq.formats import FixedFormat


def cast_to(raw: np.ndarray, from_frac_bits: int, fmt) -> np.ndarray:
    """Cast raw integers at ``from_frac_bits`` into ``fmt`` (any format with ``cast_raw``)."""
    return fmt.cast_raw(raw, from_frac_bits)


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact integer product; falls back to Python ints when int64 could overflow."""
    amax = int(np.max(np.abs(a))) if a.size else 0
    bmax = int(np.max(np.abs(b))) if b.size else 0
    if amax.bit_length() + bmax.bit_length() > 62:
        return a.astype(object) * b.astype(object)
    return a.astype(np.int64) * b.astype(np.int64)


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
