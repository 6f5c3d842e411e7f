"""Minifloats ``float<E,M,...>``: sign, E exponent bits, M mantissa bits, held in the IR as exact integers.

Canonical string: ``float<E,M[,policy][,bias=B][,nosub][,satfinite][,SR]>``; the ml_dtypes names
(``e4m3fn``, ``e5m2``, ``e2m1fn``, ...) are accepted and are what ``str`` prints when a format equals one.

Encoding policies (what the top codes mean), ``policy``:

    ieee     IEEE 754-like: exponent all ones holds +-inf (mantissa 0) and NaN (mantissa != 0).
    fn       finite with NaN: no infinities; the all-ones magnitude (S.11..1.11..1) is NaN.
    fnuz     finite, unsigned zero: no infinities, no negative zero; the negative-zero code (1.00..0.00..0)
             is the single NaN. Default bias is one higher (2**(E-1)), as in ml_dtypes / Graphcore.
    finite   every code is a finite number (OCP MX FP6/FP4): no inf, no NaN; overflow saturates.

Name suffix letters, each with one meaning (as ml_dtypes uses them):
    ``f``  finite: no infinity codes.  ``n``  NaN only where the policy above puts it (not IEEE's many NaNs).
    ``uz`` unsigned zero: no negative zero, its code is NaN.  ``b<N>``  exponent bias N instead of the default.
    ml_dtypes spells the OCP MX element types ``e2m1fn``, ``e2m3fn``, ``e3m2fn`` although the MX spec
    gives them no NaN code; those three names therefore denote policy ``finite`` (as ml_dtypes computes).

Values: with bias b, exponent field e and mantissa field m, a code is ``(-1)**s * 2**(1-b) * m/2**M``
(e == 0, subnormal) or ``(-1)**s * 2**(e-b) * (1 + m/2**M)``. ``nosub``: subnormal codes are not used;
conversions round as if they existed and then flush a subnormal result to zero (FTZ hardware).

The integer ("raw") protocol shared with fixed point: ``frac_bits = b + M - 1`` (minus the exponent of
the smallest subnormal, equal to that of the smallest normal's LSB), so every finite value is
``raw * 2**-frac_bits`` with ``raw`` an exact integer; ``raw_min``/``raw_max`` are the raws of -max/+max.
Conversions to raw integers (``to_raw``, ``cast_raw``) cannot express inf/NaN: they SATURATE on
overflow (+-inf -> +-max) whatever the policy; this is the IR's rule for minifloat tensors. ``quantize``
(float in, float out) follows the policy: overflow -> inf (``ieee``) or NaN (``fn``, ``fnuz``) unless
``satfinite``, in which case it saturates to +-max; NaN in -> NaN out (``finite``: ValueError).

Rounding: ``RNE`` round to nearest, ties to even mantissa (IEEE default). ``SR`` stochastic: round away
from zero with probability (dropped part / spacing), a seeded draw per element (``seed=`` or ``rng=``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

POLICIES = ("ieee", "fn", "fnuz", "finite")
FLOAT_ROUNDING = ("RNE", "SR")

#: ml_dtypes-style names -> (E, M, policy, bias or None for the default).
NAMED: dict[str, tuple[int, int, str, int | None]] = {
    "e5m2": (5, 2, "ieee", None),
    "e4m3": (4, 3, "ieee", None),
    "e3m4": (3, 4, "ieee", None),
    "e3m2": (3, 2, "ieee", None),
    "e2m3": (2, 3, "ieee", None),
    "e2m1": (2, 1, "ieee", None),
    "e4m3fn": (4, 3, "fn", None),
    "e5m2fn": (5, 2, "fn", None),
    "e4m3fnuz": (4, 3, "fnuz", None),
    "e5m2fnuz": (5, 2, "fnuz", None),
    "e4m3b11fnuz": (4, 3, "fnuz", 11),
    "e3m2fn": (3, 2, "finite", None),
    "e2m3fn": (2, 3, "finite", None),
    "e2m1fn": (2, 1, "finite", None),
}

#: Widths of raw magnitudes above this use Python ints.
_INT64_SAFE_BITS = 58


def default_bias(exp_bits: int, policy: str) -> int:
    """2**(E-1) - 1, or 2**(E-1) for ``fnuz`` (ml_dtypes convention)."""
    return (1 << (exp_bits - 1)) - (0 if policy == "fnuz" else 1)


@dataclass(frozen=True)
class FloatFormat:
    """``float<E,M,...>`` minifloat; see the module docstring for the policies and the raw protocol.

    exp_bits E (1..8), man_bits M (0..23), policy (``POLICIES``), bias (None: the policy's default),
    subnormals (False: flush to zero), satfinite (saturate instead of inf/NaN in ``quantize``),
    rounding (``RNE`` or ``SR``).
    """

    exp_bits: int
    man_bits: int
    policy: str = "ieee"
    bias: int | None = None
    subnormals: bool = True
    satfinite: bool = False
    rounding: str = "RNE"

    kind = "float"

    def __post_init__(self) -> None:
        name = f"float<{self.exp_bits},{self.man_bits}>"
        if not isinstance(self.exp_bits, int) or not 1 <= self.exp_bits <= 8:
            raise ValueError(f"{name}: exponent bits E must be an integer in 1..8, got {self.exp_bits!r}")
        if not isinstance(self.man_bits, int) or not 0 <= self.man_bits <= 23:
            raise ValueError(f"{name}: mantissa bits M must be an integer in 0..23, got {self.man_bits!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"{name}: unknown policy {self.policy!r}; expected one of {', '.join(POLICIES)}")
        if self.rounding not in FLOAT_ROUNDING:
            raise ValueError(f"{name}: unknown rounding {self.rounding!r}; expected RNE or SR")
        if self.bias is None:
            object.__setattr__(self, "bias", default_bias(self.exp_bits, self.policy))
        if not isinstance(self.bias, int):
            raise ValueError(f"{name}: bias must be an integer, got {self.bias!r}")
        if self.policy == "finite":
            object.__setattr__(self, "satfinite", True)
        if self.policy == "ieee" and self.exp_bits == 1:
            raise ValueError(f"{name}: an ieee minifloat needs E >= 2 (E == 1 leaves no finite normal numbers)")
        if self.policy == "fn" and self.exp_bits + self.man_bits == 0:
            raise ValueError(f"{name}: policy fn needs at least one magnitude bit")
        if self.max_code < 1:
            raise ValueError(f"{name}: the policy {self.policy!r} leaves no non-zero finite value")

    # ----------------------------------------------------------------- naming
    def __str__(self) -> str:
        for name, (e, m, pol, b) in NAMED.items():
            if (e, m, pol) == (self.exp_bits, self.man_bits, self.policy) and self.bias == (
                b if b is not None else default_bias(e, pol)
            ):
                if self.subnormals and not self.satfinite_explicit and self.rounding == "RNE":
                    return name
        parts = [str(self.exp_bits), str(self.man_bits)]
        if self.policy != "ieee":
            parts.append(self.policy)
        if self.bias != default_bias(self.exp_bits, self.policy):
            parts.append(f"bias={self.bias}")
        if not self.subnormals:
            parts.append("nosub")
        if self.satfinite_explicit:
            parts.append("satfinite")
        if self.rounding != "RNE":
            parts.append(self.rounding)
        return f"float<{','.join(parts)}>"

    @property
    def satfinite_explicit(self) -> bool:
        """True when saturation was asked for (it is implied, and not printed, for policy ``finite``)."""
        return self.satfinite and self.policy != "finite"

    # ----------------------------------------------------------------- finfo-like record (exact)
    @property
    def width(self) -> int:
        """Total bits 1 + E + M."""
        return 1 + self.exp_bits + self.man_bits

    @property
    def frac_bits(self) -> int:
        """bias + M - 1: the smallest subnormal (or the smallest normal's LSB) is 2**-frac_bits."""
        return self.bias + self.man_bits - 1

    @property
    def max_code(self) -> int:
        """Largest magnitude code (E+M bits) that encodes a finite number."""
        top = (1 << (self.exp_bits + self.man_bits)) - 1
        if self.policy == "ieee":
            return top - (1 << self.man_bits)  # exponent all ones is inf/NaN
        if self.policy == "fn":
            return top - 1
        return top

    def code_to_raw(self, code: int) -> int:
        """Raw magnitude (units of 2**-frac_bits) of a magnitude code (E+M bits), as a Python int."""
        e, m = code >> self.man_bits, code & ((1 << self.man_bits) - 1)
        if e == 0:
            return m if self.subnormals else 0
        return ((1 << self.man_bits) + m) << (e - 1)

    @property
    def raw_max(self) -> int:
        """Raw integer of +max."""
        return self.code_to_raw(self.max_code)

    @property
    def raw_min(self) -> int:
        """Raw integer of -max."""
        return -self.raw_max

    @property
    def exact_max(self) -> Fraction:
        return Fraction(self.raw_max) / (Fraction(2) ** self.frac_bits)

    @property
    def exact_min(self) -> Fraction:
        return -self.exact_max

    @property
    def max(self) -> float:
        return float(self.exact_max)

    @property
    def min(self) -> float:
        return -self.max

    @property
    def smallest_normal(self) -> float:
        """2**(1 - bias)."""
        return float(Fraction(2) ** (1 - self.bias))

    @property
    def smallest_subnormal(self) -> float:
        """2**-frac_bits (the smallest normal when subnormals are off)."""
        return float(Fraction(2) ** -self.frac_bits) if self.subnormals else self.smallest_normal

    @property
    def step(self) -> float:
        """The unit of the raw integers, 2**-frac_bits."""
        return float(Fraction(2) ** -self.frac_bits)

    @property
    def needs_object_ints(self) -> bool:
        """True when raws may exceed int64-safe arithmetic (Python-int arrays are used)."""
        return self.raw_max.bit_length() > _INT64_SAFE_BITS

    # ----------------------------------------------------------------- raw conversions
    def cast_raw(self, raw, from_frac_bits: int, *, seed: int = 0, rng: np.random.Generator | None = None):
        """Round exact fixed-point integers (value = raw * 2**-from_frac_bits) to this format's raws.

        Nearest representable value with this format's rounding; overflow SATURATES to +-raw_max (the
        IR's rule; raws cannot hold inf/NaN); ``nosub`` flushes subnormal results to 0. ``SR`` draws from
        ``rng`` or ``np.random.default_rng(seed)``. Returns int64 (object ints for very wide formats).
        """
        arr = np.asarray(raw)
        if arr.dtype.kind not in "iub" and arr.dtype != object:
            raise TypeError(f"{self}: cast_raw expects integers, got dtype {arr.dtype}")
        neg = arr < 0
        mag = np.where(neg, -arr, arr)
        shift = np.full(arr.shape, int(from_frac_bits) - self.frac_bits, dtype=np.int64)
        raw, _ = self._round(mag, shift, neg, _rng(rng, seed))
        return raw

    def to_raw(self, x, nan: str = "raise", *, seed: int = 0, rng: np.random.Generator | None = None):
        """Quantise real values (any float dtype or ints) to raw integers of this format.

        Exact for every float64 input. Overflow and +-inf saturate to +-raw_max. NaN: ``nan="raise"``
        (ValueError) or ``"zero"``.
        """
        raw, _ = self._from_floats(x, nan, _rng(rng, seed))
        return raw

    def from_raw(self, raw) -> np.ndarray:
        """float64 values of raw integers (exact for every format with M <= 52)."""
        arr = np.asarray(raw)
        if arr.dtype == object:
            return np.array([float(Fraction(int(v)) / 2**self.frac_bits) for v in arr.ravel()]).reshape(arr.shape)
        return np.ldexp(arr.astype(np.float64), -self.frac_bits)

    def quantize(self, x, nan: str = "keep", *, seed: int = 0, rng: np.random.Generator | None = None) -> np.ndarray:
        """Round real values to this format, float64 out, with inf/NaN per the policy.

        Overflow: inf (ieee) or NaN (fn, fnuz), or +-max with ``satfinite`` / policy ``finite``.
        +-inf in: +-inf (ieee), NaN (fn, fnuz), +-max when saturating. NaN in: NaN out when the format has
        a NaN (``nan="keep"``); ``nan="raise"`` raises, ``nan="zero"`` maps NaN to 0.
        """
        x = np.asarray(x, dtype=np.float64)
        nan_in = np.isnan(x)
        if nan_in.any() and nan == "keep" and self.policy == "finite":
            raise ValueError(f"{self}: has no NaN encoding; pass nan='zero' to map NaN to 0")
        raw, over = self._from_floats(
            np.where(nan_in, 0.0, x) if nan == "keep" else x,
            "zero" if nan == "keep" else nan,
            _rng(rng, seed),
        )
        out = self.from_raw(raw)
        if self.policy == "fnuz":
            out = np.where(out == 0, 0.0, out)  # no negative zero
        if not self.satfinite:
            special = np.copysign(np.inf, x) if self.policy == "ieee" else np.nan
            out = np.where(over, special, out)
        if nan == "keep":
            out = np.where(nan_in, np.nan, out)
        return out

    # ----------------------------------------------------------------- encodings
    def to_bits(self, raw) -> np.ndarray:
        """(1+E+M)-bit codes (int64) of raw integers (which must be representable values)."""
        arr = np.asarray(raw)
        table = self._raw_table()
        mag = np.abs(arr).astype(np.int64) if arr.dtype != object else np.array([abs(int(v)) for v in arr.ravel()])
        mag = np.asarray(mag).reshape(arr.shape)
        code = np.searchsorted(table, mag)
        code = np.minimum(code, len(table) - 1)
        if np.any(table[code] != mag):
            bad = np.asarray(arr)[table[code] != mag].ravel()[0]
            raise ValueError(f"{self}: raw value {bad} is not representable")
        sign = (np.asarray(arr) < 0) & (mag != 0) if self.policy != "fnuz" else np.asarray(arr) < 0
        return code + (sign.astype(np.int64) << (self.exp_bits + self.man_bits))

    def from_bits(self, bits) -> np.ndarray:
        """Raw integers of codes; inf/NaN codes raise ValueError (use ``decode`` for floats)."""
        bits = np.asarray(bits).astype(np.int64)
        mag_bits = self.exp_bits + self.man_bits
        code = bits & ((1 << mag_bits) - 1)
        neg = (bits >> mag_bits) & 1
        special = self._special_codes(bits)
        if special.any():
            raise ValueError(f"{self}: code {int(bits[special].ravel()[0])} is inf or NaN, which has no raw value")
        table = self._raw_table(full=True)
        mag = table[code]
        return np.where(neg == 1, -mag, mag)

    def decode(self, bits) -> np.ndarray:
        """float64 values of codes, inf/NaN included (negative zero kept as -0.0)."""
        bits = np.asarray(bits).astype(np.int64)
        mag_bits = self.exp_bits + self.man_bits
        code = bits & ((1 << mag_bits) - 1)
        neg = ((bits >> mag_bits) & 1) == 1
        vals = self.from_raw(self._raw_table(full=True)[code])
        vals = np.where(neg, -vals, vals)
        if self.policy == "ieee":
            top = code >> self.man_bits == (1 << self.exp_bits) - 1
            inf = top & ((code & ((1 << self.man_bits) - 1)) == 0)
            vals = np.where(inf, np.where(neg, -np.inf, np.inf), vals)
        return np.where(self._special_codes(bits) & ~np.isinf(vals), np.nan, vals)

    def _special_codes(self, bits: np.ndarray) -> np.ndarray:
        """Mask of inf/NaN codes."""
        mag_bits = self.exp_bits + self.man_bits
        code = bits & ((1 << mag_bits) - 1)
        if self.policy == "fnuz":
            return bits == (1 << mag_bits)
        if self.policy == "finite":
            return np.zeros(bits.shape, dtype=bool)
        return code > self.max_code

    def _raw_table(self, full: bool = False) -> np.ndarray:
        """Raw magnitude of each magnitude code 0..max_code (every code with ``full``; inf/NaN codes give
        raw_max as a placeholder that callers mask). ``nosub``: subnormal codes give 0. Cached, read-only."""
        return _code_table(self, full)

    def _magnitudes(self) -> np.ndarray:
        """Distinct finite raw magnitudes, ascending (0 first)."""
        return np.unique(self._raw_table())

    def random_raw(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Raw integers of uniformly random finite encodings (both signs; each finite code equally likely)."""
        shape = tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
        table = self._magnitudes()
        mag = table[rng.integers(0, len(table), size=shape)]
        sign = rng.integers(0, 2, size=shape)
        return np.where(sign == 1, -mag, mag)

    def all_raw(self) -> np.ndarray:
        """Every distinct finite value's raw integer, ascending."""
        table = self._magnitudes()
        neg = -table[1:][::-1]
        return np.concatenate([neg, table])

    # ----------------------------------------------------------------- core rounding
    def _from_floats(self, x, nan: str, rng):
        """float -> (raw, overflow mask). Splits each float64 into an exact (53-bit integer, shift)."""
        if nan not in ("raise", "zero"):
            raise ValueError(f"nan option must be 'raise' or 'zero', got {nan!r}")
        x = np.asarray(x)
        if x.dtype.kind in "iub":
            return self.cast_raw(x.astype(np.int64), 0, rng=rng), np.zeros(x.shape, dtype=bool)
        x = x.astype(np.float64)
        nan_mask = np.isnan(x)
        if nan_mask.any():
            if nan == "raise":
                raise ValueError(f"{self}: NaN input cannot be converted to raw integers (pass nan='zero')")
            x = np.where(nan_mask, 0.0, x)
        inf = np.isinf(x)
        fr, ex = np.frexp(np.where(inf, 1.0, x))
        neg = x < 0
        mant = np.abs(np.ldexp(fr, 53)).astype(np.int64)  # exact: |x| = mant * 2**(ex - 53)
        shift = (53 - ex.astype(np.int64)) - self.frac_bits  # bits to drop to reach raw units
        # Far above max: mark as overflow without shifting left (keeps int64 safe).
        big = (ex.astype(np.int64) + self.frac_bits > self.raw_max.bit_length() + 1) | inf
        mant = np.where(big, 0, mant)
        shift = np.where(big, 0, shift)
        raw, over = self._round(mant, shift, neg, rng)
        over = over | big
        if big.any():
            if self.needs_object_ints:
                fill = np.where(neg, -1, 1).astype(object) * self.raw_max
                raw = np.where(big, fill, np.asarray(raw, dtype=object))
            else:
                raw = np.where(big, np.where(neg, self.raw_min, self.raw_max), raw).astype(np.int64)
        return raw, over

    def _round(self, mag, shift, neg, rng):
        """Round magnitudes ``mag * 2**-shift`` (target raw units) to representable raws; saturate.

        Returns (signed raw, overflow mask). Object path for very wide formats or huge integers.
        """
        mag = np.asarray(mag)
        wide = mag.dtype == object or self.needs_object_ints
        if not wide and mag.size:
            wide = int(mag.max()).bit_length() > 61 or int(np.max(-shift, initial=0)) + int(mag.max()).bit_length() > 61
        if wide:
            res = _round_objects(mag, shift, self, rng)
        else:
            res = _round_int64(mag.astype(np.int64), shift.astype(np.int64), self, rng)
        over = res > self.raw_max
        if over.any():
            res = np.where(over, np.array(self.raw_max, dtype=res.dtype), res)
        if not self.subnormals:
            res = np.where(res < (1 << self.man_bits), 0, res)
        out = np.where(neg, -res, res)
        if not wide:
            out = out.astype(np.int64)
        elif not self.needs_object_ints:
            out = out.astype(np.int64)
        return out, over


@functools.lru_cache(maxsize=64)
def _code_table(fmt: FloatFormat, full: bool) -> np.ndarray:
    n = (1 << (fmt.exp_bits + fmt.man_bits)) if full else fmt.max_code + 1
    vals = [min(fmt.code_to_raw(c), fmt.raw_max) for c in range(n)]
    table = np.array(vals, dtype=object if fmt.needs_object_ints else np.int64)
    table.flags.writeable = False
    return table


def _rng(rng, seed: int) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng(seed)


def _bit_length(a: np.ndarray) -> np.ndarray:
    """Exact bit lengths of non-negative int64 values (< 2**62)."""
    _, e = np.frexp(a.astype(np.float64))
    e = e.astype(np.int64)
    # float rounding may have bumped a value just below a power of two up to it: correct by one.
    too_big = (e > 0) & ((a >> np.maximum(e - 1, 0)) == 0)
    return e - too_big


def _round_int64(a: np.ndarray, s: np.ndarray, fmt: FloatFormat, rng) -> np.ndarray:
    """Vectorised rounding of a * 2**-s (a >= 0 int64, s int64 shift) onto fmt's raw grid."""
    m_bits = fmt.man_bits
    e_a = _bit_length(a) - 1  # binade of a (-1 for a == 0)
    g = np.maximum(0, e_a - s - m_bits)  # spacing exponent of the target binade, in raw units
    k = s + g  # bits of a to drop
    exact = k <= 0
    left = np.where(exact, a << np.clip(-s, 0, 62), 0)
    vanish = k > e_a + 1  # below half the spacing: q = 0, the whole of a is dropped
    kk = np.clip(k, 1, 62)
    q = np.where(vanish, 0, a >> kk)
    rem = np.where(vanish, a, a - (q << kk))
    if fmt.rounding == "RNE":
        half = np.left_shift(1, kk - 1)  # > a whenever vanish (a < 2**61 here)
        up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    else:  # P(up) = rem / 2**k, exact to 2**-53
        t = np.ldexp(rem.astype(np.float64), -np.clip(k, 1, 2000))
        up = rng.random(a.shape) < t
    rounded = (q + up) << g
    return np.where(exact, left, np.where(a == 0, 0, rounded))


def _round_objects(a: np.ndarray, s: np.ndarray, fmt: FloatFormat, rng) -> np.ndarray:
    """Python-int version of ``_round_int64`` (any magnitude)."""
    out = []
    flat_a = [int(v) for v in np.asarray(a).ravel()]
    flat_s = [int(v) for v in np.broadcast_to(s, np.asarray(a).shape).ravel()]
    draws = rng.random(len(flat_a)) if fmt.rounding == "SR" else None
    for i, (av, sv) in enumerate(zip(flat_a, flat_s)):
        if av == 0:
            out.append(0)
            continue
        g = max(0, av.bit_length() - 1 - sv - fmt.man_bits)
        k = sv + g
        if k <= 0:
            out.append(av << -sv)
            continue
        q, rem = av >> k, av & ((1 << k) - 1)
        if fmt.rounding == "RNE":
            half = 1 << (k - 1)
            up = rem > half or (rem == half and q & 1)
        else:
            up = draws[i] < float(Fraction(rem, 1 << k))
        out.append((q + int(up)) << g)
    return np.array(out, dtype=object).reshape(np.asarray(a).shape)
