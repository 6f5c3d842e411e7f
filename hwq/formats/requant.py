"""CMSIS-NN dyadic requantisation: a real scale as a Q31 multiplier and a power-of-two shift.

A real rescale factor ``scale > 0`` is represented as ``multiplier * 2**(shift - 31)`` with
``multiplier`` in ``[2**30, 2**31)`` (Q31, i.e. a fraction in [0.5, 1)) and ``shift`` in [-31, 30]
(``quantize_multiplier``, TFLite's ``QuantizeMultiplier``). ``requantize`` applies it to int32
accumulators exactly as CMSIS-NN's ``arm_nn_requantize`` does, in one of its two builds:

default (double rounding)::

    v = wrap32(acc * 2**max(shift, 0))                       # int32 multiply, wraps on overflow
    h = wrap32((v * multiplier + 2**30) >> 31)               # doubling high multiply, ties toward +inf
    y = round_half_away_from_zero(h / 2**max(-shift, 0))    # arm_nn_divide_by_power_of_two

``single_rounding=True`` (built with ``CMSIS_NN_USE_SINGLE_ROUNDING``)::

    r = wrap32((acc * multiplier) >> (30 - shift))           # 64-bit product, arithmetic shift
    y = wrap32(r + 1) >> 1                                   # one rounding step, ties toward +inf

The two builds differ by one step on a small fraction of inputs, so a graph states which one it uses.
All integers are int64 numpy arrays (or Python ints) holding int32 values; ``multiplier`` and ``shift``
may be arrays that broadcast against ``acc`` (per-channel requantisation).
"""

from __future__ import annotations

import math

import numpy as np

Q31_ONE = 1 << 31


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """(multiplier, shift) with ``multiplier * 2**(shift - 31)`` closest to ``scale`` (TFLite's rule).

    ``scale``: a finite real >= 0. ``frexp`` gives ``scale = q * 2**shift`` with q in [0.5, 1);
    ``multiplier = round_half_away(q * 2**31)``; a result of 2**31 becomes 2**30 with shift + 1. Scales
    below 2**-32 give (0, 0) (everything requantises to 0); shift is limited to <= 30.
    Raises ValueError for negative, NaN or infinite scales.
    """
    scale = float(scale)
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"requantisation scale must be a finite number >= 0, got {scale!r}")
    if scale == 0.0:
        return 0, 0
    q, shift = math.frexp(scale)
    mult = _round_half_away(q * Q31_ONE)  # q * 2**31 is exact in float64
    if mult == Q31_ONE:
        mult //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return Q31_ONE - 1, 30
    return int(mult), int(shift)


def quantize_multipliers(scales) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``quantize_multiplier``: two int64 arrays (multipliers, shifts)."""
    pairs = [quantize_multiplier(s) for s in np.asarray(scales, dtype=np.float64).ravel()]
    shape = np.shape(scales)
    return (
        np.array([p[0] for p in pairs], dtype=np.int64).reshape(shape),
        np.array([p[1] for p in pairs], dtype=np.int64).reshape(shape),
    )


def _round_half_away(v: float) -> int:
    """Round a float to the nearest integer, ties away from zero (C ``round``)."""
    f = math.floor(abs(v) + 0.5)
    return int(f) if v >= 0 else -int(f)


def wrap32(v):
    """Wrap integers (int64 ndarray or Python int) to the int32 range (two's complement)."""
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def requantize(acc, multiplier, shift, single_rounding: bool = False) -> np.ndarray:
    """CMSIS-NN ``arm_nn_requantize`` of int32 values ``acc`` (see the module docstring).

    ``acc``: int32 values (int64 array); ``multiplier`` in [0, 2**31); ``shift`` in [-31, 30].
    Returns int64 ndarray of int32 results (before output offset and activation clamping).
    """
    acc = np.asarray(acc, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    if np.any((s < -31) | (s > 30)):
        raise ValueError(f"requantize: shift must be in [-31, 30], got {s.min()}..{s.max()}")
    if np.any((m < 0) | (m >= Q31_ONE)):
        raise ValueError("requantize: multiplier must be in [0, 2**31)")
    acc = wrap32(acc)
    if single_rounding:
        prod = _mul64(acc, m)  # exact |acc * m| < 2**62
        r = wrap32(prod >> (30 - s))
        return wrap32(r + 1) >> 1
    v = wrap32(acc << np.maximum(s, 0))
    h = wrap32((_mul64(v, m) + (1 << 30)) >> 31)
    exp = np.maximum(-s, 0)
    mask = (np.int64(1) << exp) - 1
    rem = h & mask
    q = h >> exp
    threshold = (mask >> 1) + (q < 0)
    return q + (rem > threshold)


def _mul64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact product of int32-range values (fits int64)."""
    return np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)


def requantize_real(acc, multiplier, shift) -> np.ndarray:
    """The real value acc * multiplier * 2**(shift - 31) as float64 (for error analysis only)."""
    return (
        np.asarray(acc, dtype=np.float64)
        * np.asarray(multiplier, dtype=np.float64)
        * np.exp2(np.asarray(shift, dtype=np.float64) - 31)
    )
