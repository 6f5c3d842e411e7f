"""Fixed-point formats with the exact semantics of Vitis HLS ``ap_fixed`` / ``ap_ufixed``.

A value of ``fixed<W,I,Q,O>`` is ``raw * 2**-(W-I)`` where ``raw`` is a W-bit two's complement
integer (``ufixed``: unsigned). ``I`` counts the integer bits including the sign and may be negative
or larger than ``W``. Conversions round with ``Q`` and handle overflow with ``O``:

rounding (``Q``), applied to the bits below the new LSB:
    TRN          floor (toward -inf)             TRN_ZERO     toward zero
    RND          nearest, ties toward +inf       RND_ZERO     nearest, ties toward zero
    RND_INF      nearest, ties away from zero    RND_MIN_INF  nearest, ties toward -inf
    RND_CONV     nearest, ties to even
overflow (``O``), applied after rounding:
    WRAP         keep the low W bits (two's complement wrap-around)
    SAT          clamp to [min, max]
    SAT_ZERO     any out-of-range value becomes 0
    SAT_SYM      clamp to [-max, max] (signed, W >= 2); as SAT for unsigned and for W == 1 (as ap_fixed)

The raw integer ("raw") is the signed value in units of the LSB; ``to_bits`` gives the W-bit register
pattern. All integer helpers work on numpy ``int64`` arrays, and on ``object`` arrays of Python ints
where a width exceeds 62 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

#: Widths above this go through Python-int (object) arrays so that no int64 arithmetic overflows.
INT64_SAFE_BITS = 62


@dataclass(frozen=True)
class FixedFormat:
    """``fixed<W,I,Q,O>`` (signed) or ``ufixed<W,I,Q,O>`` (unsigned), as ap_fixed defines them.

    width: total bits W (1..1024); int_bits: I, integer bits including the sign (any integer);
    rounding: one of ``ROUNDING_MODES``; overflow: one of ``OVERFLOW_MODES``.
    """

    width: int
    int_bits: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 1 <= self.width <= 1024:
            raise ValueError(f"{self._name()}: width must be an integer in 1..1024, got {self.width!r}")
        if self.signed and self.width < 1:
            raise ValueError(f"{self._name()}: a signed format needs at least 1 bit")
        if not isinstance(self.int_bits, int):
            raise ValueError(f"{self._name()}: integer bits must be an integer, got {self.int_bits!r}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(
                f"{self._name()}: unknown rounding mode {self.rounding!r}; expected one of {', '.join(ROUNDING_MODES)}"
            )
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(
                f"{self._name()}: unknown overflow mode {self.overflow!r}; expected one of {', '.join(OVERFLOW_MODES)}"
            )

    def _name(self) -> str:
        return f"{'fixed' if self.signed else 'ufixed'}<{self.width},{self.int_bits}>"

    # ----------------------------------------------------------------- descriptive properties
    kind = "fixed"

    def __str__(self) -> str:
        head = "fixed" if self.signed else "ufixed"
        parts = [str(self.width), str(self.int_bits)]
        if self.rounding != "TRN" or self.overflow != "WRAP":
            parts.append(self.rounding)
        if self.overflow != "WRAP":
            parts.append(self.overflow)
        return f"{head}<{','.join(parts)}>"

    @property
    def frac_bits(self) -> int:
        """Fractional bits F = W - I; the LSB weighs 2**-F (F may be negative)."""
        return self.width - self.int_bits

    @property
    def raw_min(self) -> int:
        """Smallest raw integer (units of the LSB)."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        """Largest raw integer (units of the LSB)."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def step(self) -> float:
        """Value of one LSB, 2**-F, as a float."""
        return float(Fraction(2) ** -self.frac_bits)

    @property
    def exact_min(self) -> Fraction:
        return Fraction(self.raw_min) * Fraction(2) ** -self.frac_bits

    @property
    def exact_max(self) -> Fraction:
        return Fraction(self.raw_max) * Fraction(2) ** -self.frac_bits

    @property
    def min(self) -> float:
        return float(self.exact_min)

    @property
    def max(self) -> float:
        return float(self.exact_max)

    @property
    def needs_object_ints(self) -> bool:
        """True when raw values may not fit comfortably in int64 arithmetic."""
        return self.width > INT64_SAFE_BITS

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> FixedFormat:
        """The same W and I with other rounding and/or overflow modes."""
        return FixedFormat(self.width, self.int_bits, self.signed, rounding or self.rounding, overflow or self.overflow)

    # ----------------------------------------------------------------- integer (raw) arithmetic
    def cast_raw(self, raw, from_frac_bits: int):
        """Convert raw integers with ``from_frac_bits`` fractional bits into this format's raw integers.

        ``raw``: int64 or object ndarray (or Python int). Applies this format's rounding when bits are
        dropped, then its overflow mode. Returns an ndarray of the same kind (object when W > 62).
        """
        return cast_raw(raw, from_frac_bits, self)

    def to_raw(self, x, nan: str = "raise"):
        """Quantise real values (float ndarray, any float dtype) to raw integers of this format.

        Exact for every float64 input. ``nan``: ``"raise"`` (ValueError) or ``"zero"``.
        +-inf act as out-of-range values (SAT -> max/min, SAT_SYM -> +-max, SAT_ZERO -> 0); with WRAP
        they saturate to max/min.
        """
        return quantize_to_raw(np.asarray(x), self, nan=nan)

    def from_raw(self, raw) -> np.ndarray:
        """Real values (float64) of raw integers; exact while W <= 53."""
        raw = np.asarray(raw)
        if raw.dtype == object:
            return np.array([float(Fraction(int(v)) * Fraction(2) ** -self.frac_bits) for v in raw.ravel()]).reshape(
                raw.shape
            )
        return np.ldexp(raw.astype(np.float64), -self.frac_bits)

    def quantize(self, x, nan: str = "raise") -> np.ndarray:
        """Round real values to the nearest representable values of this format (float64 out)."""
        return self.from_raw(self.to_raw(x, nan=nan))

    def to_bits(self, raw):
        """W-bit register pattern (unsigned) of raw integers."""
        raw = _as_int_array(raw, self.width + 1)
        return raw % (1 << self.width)

    def from_bits(self, bits):
        """Raw integers from W-bit register patterns."""
        bits = _as_int_array(bits, self.width + 1) % (1 << self.width)
        if not self.signed:
            return bits
        half = 1 << (self.width - 1)
        return np.where(bits >= half, bits - (1 << self.width), bits)

    def random_raw(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Uniformly random raw integers over ``[raw_min, raw_max]`` (every encoding equally likely)."""
        return random_raw(self, rng, shape)


def _as_int_array(raw, bits_needed: int):
    """An int64 ndarray, or an object ndarray of Python ints when ``bits_needed`` exceeds 62."""
    arr = np.asarray(raw)
    if arr.dtype == object:
        return arr
    if bits_needed > INT64_SAFE_BITS:
        return arr.astype(object)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"expected an integer array, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _magnitude_bits(raw) -> int:
    """An upper bound on the bit length of any |value| in raw."""
    arr = np.asarray(raw)
    if arr.size == 0:
        return 0
    if arr.dtype == object:
        return max(int(abs(int(v))).bit_length() for v in arr.ravel())
    lo, hi = int(arr.min()), int(arr.max())
    return max(abs(lo), abs(hi)).bit_length()


def shift_round(raw, shift: int, rounding: str):
    """Divide integers by 2**shift (shift >= 1) and round with an ap_fixed rounding mode.

    ``raw``: int64 or object ndarray. Only the dropped bits decide the rounding, as in ap_fixed.
    """
    if shift <= 0:
        raise ValueError("shift_round needs shift >= 1")
    floor = raw >> shift
    if rounding == "TRN":
        return floor
    rem = raw - (floor << shift)  # in [0, 2**shift)
    half = 1 << (shift - 1)
    above = rem > half
    tie = rem == half
    if rounding == "TRN_ZERO":
        up = (rem != 0) & (raw < 0)
    elif rounding == "RND":
        up = above | tie
    elif rounding == "RND_ZERO":
        up = above | (tie & (raw < 0))
    elif rounding == "RND_INF":
        up = above | (tie & (raw >= 0))
    elif rounding == "RND_MIN_INF":
        up = above
    elif rounding == "RND_CONV":
        up = above | (tie & ((floor & 1) == 1))
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return floor + up.astype(floor.dtype if floor.dtype != object else np.int64)


def apply_overflow(raw, fmt: FixedFormat):
    """Apply fmt's overflow mode to integers already at fmt's LSB (int64 or object ndarray)."""
    lo, hi = fmt.raw_min, fmt.raw_max
    if fmt.overflow == "WRAP":
        span = 1 << fmt.width
        return (raw - lo) % span + lo
    if fmt.overflow == "SAT":
        return np.minimum(np.maximum(raw, lo), hi)
    if fmt.overflow == "SAT_ZERO":
        return np.where((raw < lo) | (raw > hi), 0, raw).astype(raw.dtype)
    if fmt.overflow == "SAT_SYM":
        if fmt.signed and fmt.width > 1:  # ap_fixed: a 1-bit signed SAT_SYM behaves as SAT ([-1, 0])
            lo = -hi
        return np.minimum(np.maximum(raw, lo), hi)
    raise ValueError(f"unknown overflow mode {fmt.overflow!r}")


def cast_raw(raw, from_frac_bits: int, fmt: FixedFormat):
    """ap_fixed conversion of raw integers (``from_frac_bits`` fractional bits) into ``fmt``'s raw integers.

    Returns int64 when every intermediate fits, else an object ndarray of Python ints.
    """
    arr = np.asarray(raw)
    shift = from_frac_bits - fmt.frac_bits
    mag = _magnitude_bits(arr)
    if shift > max(mag, 1) + 2:
        # every |value| is below a quarter LSB: it rounds as +-1/4 would, in every mode (keeps shifts small)
        arr = (
            np.sign(arr)
            if arr.dtype != object
            else np.array([(v > 0) - (v < 0) for v in arr.ravel()]).reshape(arr.shape)
        )
        shift, mag = 2, 1
    need = max(mag + max(-shift, 0), fmt.width) + 2
    arr = _as_int_array(arr, need)
    if shift > 0:
        arr = shift_round(arr, shift, fmt.rounding)
    elif shift < 0:
        arr = arr << (-shift)
    out = apply_overflow(arr, fmt)
    if out.dtype == object and fmt.width <= INT64_SAFE_BITS:
        out = out.astype(np.int64)
    return out


def _round_float_to_int(y: np.ndarray, rounding: str) -> np.ndarray:
    """Round float64 values to integral float64 values with an ap_fixed rounding mode (exact)."""
    f = np.floor(y)
    d = y - f  # exact
    if rounding == "TRN":
        return f
    if rounding == "TRN_ZERO":
        return np.trunc(y)
    tie = d == 0.5
    above = d > 0.5
    if rounding == "RND":
        up = above | tie
    elif rounding == "RND_ZERO":
        up = above | (tie & (y < 0))
    elif rounding == "RND_INF":
        up = above | (tie & (y > 0))
    elif rounding == "RND_MIN_INF":
        up = above
    elif rounding == "RND_CONV":
        up = above | (tie & (np.fmod(f, 2.0) != 0))
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return f + up


def quantize_to_raw(x: np.ndarray, fmt: FixedFormat, nan: str = "raise"):
    """Exact quantisation of real values to ``fmt`` raw integers (see ``FixedFormat.to_raw``).

    Every finite float64 input is converted exactly as ap_fixed's ``ap_fixed(double)`` constructor does
    (the exact real value rounded with ``fmt.rounding``, then ``fmt.overflow``). +-inf are treated as
    values beyond the range (SAT: max/min, SAT_SYM: +-max, SAT_ZERO: 0), except under WRAP, where they
    saturate to max/min; NaN raises (or maps to 0 with ``nan="zero"``). ap_fixed leaves both undefined.
    """
    if nan not in ("raise", "zero"):
        raise ValueError(f"nan option must be 'raise' or 'zero', got {nan!r}")
    x = np.asarray(x)
    if x.dtype.kind not in "fiub" and x.dtype != object:
        raise TypeError(f"{fmt}: cannot quantise values of dtype {x.dtype}")
    if x.dtype.kind in "iub" or (x.dtype == object and all(isinstance(v, int) for v in x.ravel())):
        ints = x.astype(object) if x.dtype.kind == "u" or x.dtype == object else x.astype(np.int64)
        return cast_raw(ints, 0, fmt)
    x = x.astype(np.float64)
    nan_mask = np.isnan(x)
    if nan_mask.any():
        if nan == "raise":
            raise ValueError(f"{fmt}: NaN input cannot be quantised (pass nan='zero' to map NaN to 0)")
        x = np.where(nan_mask, 0.0, x)
    pos_inf, neg_inf = x == np.inf, x == -np.inf
    wrap_inf = fmt.overflow == "WRAP" and (pos_inf.any() or neg_inf.any())
    # +-inf act as values beyond the range (so SAT_SYM gives -max, SAT_ZERO gives 0); WRAP saturates them.
    big = np.finfo(np.float64).max
    x = np.where(pos_inf, 0.0 if wrap_inf else big, np.where(neg_inf, 0.0 if wrap_inf else -big, x))
    if fmt.width > 60:
        out = _quantize_wide(x, fmt)
    else:
        out = _quantize_narrow(x, fmt)
    if wrap_inf:
        out = np.where(pos_inf, fmt.raw_max, np.where(neg_inf, fmt.raw_min, out))
        out = out.astype(object) if fmt.needs_object_ints else out.astype(np.int64)
    return out


def _quantize_narrow(x: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """float64 (finite) -> int64 raw for W <= 60, exact, vectorised."""
    _, e = np.frexp(x)  # |x| in [2**(e-1), 2**e)
    e_scaled = e.astype(np.int64) + fmt.frac_bits  # binade of x * 2**F
    # Tiny: |x * 2**F| < 1/4 rounds like +-1/8 in every mode (exactly representable stand-in).
    tiny = (e_scaled <= -2) & (x != 0)
    # Huge: x * 2**F is a multiple of 2**(e_scaled - 53) >= 2**(W + 2): its residue mod 2**W is 0 and it
    # is far outside the range; replace by +-2**(W+2) (same residue, same saturation decision).
    huge = e_scaled - 53 >= fmt.width + 2
    safe = np.where(tiny | huge, 0.0, x)
    y = _exact_ldexp(safe, fmt.frac_bits)
    y = np.where(tiny, np.copysign(0.125, x), y)
    y = np.where(huge, np.copysign(float(1 << (fmt.width + 2)), x), y)
    r = _round_float_to_int(y, fmt.rounding)
    if fmt.overflow == "WRAP":
        r = np.fmod(r, float(1 << fmt.width))  # exact, keeps the residue class
    else:
        lim = float(1 << (fmt.width + 1))  # clamp far-out values to just outside the range (exact decision)
        r = np.clip(r, -lim, lim)
    return apply_overflow(r.astype(np.int64), fmt)


def _quantize_wide(x: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """float64 (finite) -> raw Python ints for W > 60, exact, one element at a time."""
    flat = []
    for v in x.ravel().tolist():
        num, den = float(v).as_integer_ratio()  # den is a power of two
        shift = den.bit_length() - 1 - fmt.frac_bits  # value * 2**F = num / 2**shift
        if shift <= 0:
            flat.append(num << -shift)
        else:
            flat.append(int(shift_round(np.array([num], dtype=object), shift, fmt.rounding)[0]))
    ints = np.array(flat, dtype=object).reshape(x.shape)
    out = apply_overflow(ints, fmt)
    return out if fmt.needs_object_ints else out.astype(np.int64)


def random_raw(fmt: FixedFormat, rng: np.random.Generator, shape) -> np.ndarray:
    """Uniformly random raw integers over [raw_min, raw_max] (int64, or object ints when W > 62)."""
    shape = tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
    if not fmt.needs_object_ints:
        return rng.integers(fmt.raw_min, fmt.raw_max, size=shape, endpoint=True, dtype=np.int64)
    n = int(np.prod(shape, dtype=np.int64))
    words = (fmt.width + 31) // 32
    chunks = rng.integers(0, 1 << 32, size=(n, words), dtype=np.uint64)
    vals = []
    for row in chunks.tolist():
        bits = 0
        for w in row:
            bits = (bits << 32) | int(w)
        vals.append(bits % (1 << fmt.width) + fmt.raw_min)
    return np.array(vals, dtype=object).reshape(shape)


def _exact_ldexp(x: np.ndarray, e: int) -> np.ndarray:
    """x * 2**e for float64 x; exact whenever the result is a normal float64."""
    out = x
    while e > 1000:
        out = np.ldexp(out, 1000)
        e -= 1000
    while e < -1000:
        out = np.ldexp(out, -1000)
        e += 1000
    return np.ldexp(out, e)
