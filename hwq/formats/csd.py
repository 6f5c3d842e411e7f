"""Multiplier-free weights: fixed point restricted to at most k non-zero signed digits (CSD).

``csd<W,I,k>`` is ``fixed<W,I>`` whose raw integers have at most k non-zero digits in canonical signed
digit form (digits in {-1, 0, +1}, no two adjacent non-zero), so a product with such a weight is at most
k shifted adds/subtracts. ``k = 1`` gives signed powers of two (and 0). ``ucsd<W,I,k>`` is unsigned.
Optional rounding/overflow modes as in ``fixed`` apply to the first step of every conversion:
``csd<W,I,k[,Q[,O]]>``.

Projection (``cast_raw`` / ``to_raw``): first the value is converted to the wrapped ``fixed<W,I,Q,O>``
exactly as ap_fixed would (rounding Q, overflow O); then the integer r is projected to the nearest
integer with at most k non-zero CSD digits that lies in the format's raw range. Ties between two such
integers go to the one with FEWER non-zero digits, then to the one of smaller magnitude (toward zero).
Because the set is symmetric, the projection is odd: proj(-r) = -proj(r) (for signed formats).

``csd_digits(n)`` gives the canonical signed-digit decomposition ``[(sign, shift), ...]`` of any integer
(least significant first), which has the minimal number of non-zero digits among all signed-digit
representations; emitters print one shifted add/sub per digit.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

import numpy as np

from .fixed import FixedFormat


def csd_digits(n: int) -> list[tuple[int, int]]:
    """Canonical signed digits of integer n: ``[(sign, shift)]``, sign in {+1, -1}, shifts ascending.

    ``sum(sign << shift) == n``; no two shifts are adjacent; the count is minimal over all
    signed-digit forms (the non-adjacent form).
    """
    n = int(n)
    out = []
    shift = 0
    while n != 0:
        if n & 1:
            d = 2 - (n & 3)  # +1 if n = 1 mod 4, -1 if n = 3 mod 4
            out.append((d, shift))
            n -= d
        n >>= 1
        shift += 1
    return out


def csd_weight(n: int) -> int:
    """Number of non-zero CSD digits of n (its minimal signed-digit weight)."""
    return len(csd_digits(n))


@functools.lru_cache(maxsize=64)
def _allowed_values(width: int, k: int, lo: int, hi: int) -> tuple[int, ...]:
    """Sorted integers in [lo, hi] with at most k non-zero CSD digits.

    Enumerates non-adjacent digit positions (the CSD form is unique, so each value appears once).
    """
    top = max(abs(lo), abs(hi)).bit_length() + 1  # highest digit position that can matter
    vals: list[int] = []

    def grow(value: int, next_pos: int, left: int) -> None:
        if lo <= value <= hi:
            vals.append(value)
        if left == 0:
            return
        for pos in range(next_pos, top + 1):
            for sign in (1, -1):
                grow(value + sign * (1 << pos), pos + 2, left - 1)

    grow(0, 0, k)
    return tuple(sorted(set(vals)))


#: Raw ranges up to this size project through a precomputed lookup table.
TABLE_LIMIT = 1 << 20


@functools.lru_cache(maxsize=16)
def projection_table(k: int, lo: int, hi: int) -> np.ndarray:
    """int64 table ``t`` with ``t[r - lo]`` = the projection of raw r, for every r in [lo, hi]."""
    return _project_search(np.arange(lo, hi + 1, dtype=np.int64), k, lo, hi)


def project_to_csd(raw, k: int, lo: int, hi: int) -> np.ndarray:
    """Nearest integer in [lo, hi] with at most k CSD digits; ties: fewer digits, then toward zero.

    ``raw`` must already lie in [lo, hi] (it is the output of the base fixed-point cast).
    """
    arr = np.asarray(raw)
    if hi - lo < TABLE_LIMIT and arr.dtype != object and arr.size > 64:
        return projection_table(k, lo, hi)[arr.astype(np.int64) - lo]
    return _project_search(arr, k, lo, hi)


def _project_search(raw, k: int, lo: int, hi: int) -> np.ndarray:
    arr = np.asarray(raw)
    allowed = _allowed_values(max(abs(lo), abs(hi)).bit_length(), k, lo, hi)
    table = np.array(allowed, dtype=object if max(abs(lo), abs(hi)).bit_length() > 62 else np.int64)
    flat = arr.ravel()
    if table.dtype != object and flat.dtype != object:
        idx = np.searchsorted(table, flat)
        below = table[np.clip(idx - 1, 0, len(table) - 1)]
        above = table[np.clip(idx, 0, len(table) - 1)]
        below = np.where(idx == 0, above, below)
        above = np.where(idx == len(table), below, above)
        db, da = flat - below, above - flat
        wb = np.vectorize(csd_weight, otypes=[np.int64])(below) if below.size else below
        wa = np.vectorize(csd_weight, otypes=[np.int64])(above) if above.size else above
        pick_above = (da < db) | ((da == db) & ((wa < wb) | ((wa == wb) & (np.abs(above) < np.abs(below)))))
        out = np.where(pick_above, above, below)
        return out.reshape(arr.shape).astype(np.int64)
    res = []
    for v in flat.tolist():
        v = int(v)
        i = bisect.bisect_left(allowed, v)
        cands = [allowed[j] for j in (i - 1, i) if 0 <= j < len(allowed)]
        res.append(min(cands, key=lambda c: (abs(c - v), csd_weight(c), abs(c))))
    return np.array(res, dtype=object).reshape(arr.shape)


@dataclass(frozen=True)
class CsdFormat:
    """``csd<W,I,k[,Q[,O]]>``: a ``fixed<W,I,Q,O>`` whose raws have at most k non-zero CSD digits."""

    width: int
    int_bits: int
    digits: int
    signed: bool = True
    rounding: str = "RND_CONV"
    overflow: str = "SAT"

    kind = "csd"

    def __post_init__(self) -> None:
        FixedFormat(self.width, self.int_bits, self.signed, self.rounding, self.overflow)  # validates W, I, modes
        if not isinstance(self.digits, int) or self.digits < 1:
            raise ValueError(f"{self._head()}: the digit budget k must be an integer >= 1, got {self.digits!r}")
        if self.width > 24 and self.digits > 3:
            raise ValueError(f"{self._head()}: k > 3 is supported up to W = 24 (the value table grows as W**k)")

    def _head(self) -> str:
        return f"{'csd' if self.signed else 'ucsd'}<{self.width},{self.int_bits},{self.digits}>"

    @property
    def base(self) -> FixedFormat:
        """The underlying ``fixed<W,I,Q,O>``."""
        return FixedFormat(self.width, self.int_bits, self.signed, self.rounding, self.overflow)

    def __str__(self) -> str:
        parts = [str(self.width), str(self.int_bits), str(self.digits)]
        if self.rounding != "RND_CONV" or self.overflow != "SAT":
            parts.append(self.rounding)
        if self.overflow != "SAT":
            parts.append(self.overflow)
        return f"{'csd' if self.signed else 'ucsd'}<{','.join(parts)}>"

    @property
    def frac_bits(self) -> int:
        return self.width - self.int_bits

    @property
    def raw_max(self) -> int:
        """Largest representable raw (at most k digits, within the fixed range)."""
        return int(_allowed_values(self.width, self.digits, self.base.raw_min, self.base.raw_max)[-1])

    @property
    def raw_min(self) -> int:
        return int(_allowed_values(self.width, self.digits, self.base.raw_min, self.base.raw_max)[0])

    @property
    def max(self) -> float:
        return float(np.ldexp(float(self.raw_max), -self.frac_bits))

    @property
    def min(self) -> float:
        return float(np.ldexp(float(self.raw_min), -self.frac_bits))

    @property
    def step(self) -> float:
        return self.base.step

    @property
    def needs_object_ints(self) -> bool:
        return self.base.needs_object_ints

    def values_raw(self) -> np.ndarray:
        """Every representable raw integer, ascending."""
        return np.array(_allowed_values(self.width, self.digits, self.base.raw_min, self.base.raw_max))

    def project(self, raw) -> np.ndarray:
        """Project raws of the base fixed format onto at most k digits (see the module docstring)."""
        b = self.base
        return project_to_csd(raw, self.digits, b.raw_min, b.raw_max)

    def cast_raw(self, raw, from_frac_bits: int) -> np.ndarray:
        """ap_fixed cast into the base format, then projection onto at most k CSD digits."""
        return self.project(self.base.cast_raw(raw, from_frac_bits))

    def to_raw(self, x, nan: str = "raise") -> np.ndarray:
        """Real values -> raws (base fixed quantisation, then projection)."""
        return self.project(self.base.to_raw(x, nan=nan))

    def from_raw(self, raw) -> np.ndarray:
        return self.base.from_raw(raw)

    def quantize(self, x, nan: str = "raise") -> np.ndarray:
        return self.from_raw(self.to_raw(x, nan=nan))

    def to_bits(self, raw):
        """W-bit two's complement register patterns (as the base fixed format)."""
        return self.base.to_bits(raw)

    def from_bits(self, bits):
        return self.base.from_bits(bits)

    def digits_of(self, raw: int) -> list[tuple[int, int]]:
        """CSD digits ``[(sign, shift)]`` of one raw weight (shift in LSBs of this format)."""
        return csd_digits(raw)

    def random_raw(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Uniformly random representable raws (each allowed value equally likely)."""
        vals = self.values_raw()
        return vals[rng.integers(0, len(vals), size=shape)]
