"""Affine integer formats ``int<W>`` / ``uint<W>`` with a scale and a zero point (TFLite / CMSIS-NN).

A stored integer q (the raw value) means ``real = scale * (q - zero_point)``. Per-tensor: one scale and
zero point. Per-channel: a tuple of each along ``axis`` of the array being converted (weights: axis 0,
the output channel). Canonical strings::

    int<8>                                   scale 1, zero point 0
    int<8,scale=0.0125,zp=-3>                per-tensor (scale printed with repr: round-trips exactly)
    int<8,axis=0,scale=[0.5,0.25],zp=[0,0]>  per-channel
    int<8,narrow>                            symmetric range [-(2**(W-1)-1), 2**(W-1)-1] (CMSIS-NN weights)
    uint<8,...,RND_CONV>                     rounding other than the default

Quantisation of a real x is ``q = clamp(round(x / scale) + zero_point, raw_min, raw_max)``, with the
exact rational quotient ``x / scale`` (no float error) rounded by ``rounding``: ``RND_INF`` (ties away
from zero, C ``round``; TFLite's reference, the default) or ``RND_CONV`` (ties to even; torch's
``quantize_per_tensor``). +-inf saturate; NaN raises or maps to the zero point (``nan="zero"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

AFFINE_ROUNDING = ("RND_INF", "RND_CONV")


def _as_tuple(v, conv) -> tuple:
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(conv(x) for x in np.asarray(v).ravel().tolist())
    return (conv(v),)


@dataclass(frozen=True)
class IntFormat:
    """``int<W,...>`` (signed) / ``uint<W,...>`` affine integer format; see the module docstring.

    width W (1..32); scale: float or tuple of floats (> 0); zero_point: int or tuple of ints (within the
    raw range); axis: None (per-tensor) or the channel axis; narrow: symmetric signed range.
    """

    width: int
    signed: bool = True
    scale: tuple = (1.0,)
    zero_point: tuple = (0,)
    axis: int | None = None
    narrow: bool = False
    rounding: str = "RND_INF"

    kind = "int"

    def __post_init__(self) -> None:
        head = f"{'int' if self.signed else 'uint'}<{self.width}>"
        if not isinstance(self.width, int) or not 1 <= self.width <= 32:
            raise ValueError(f"{head}: width must be an integer in 1..32, got {self.width!r}")
        object.__setattr__(self, "scale", _as_tuple(self.scale, float))
        object.__setattr__(self, "zero_point", _as_tuple(self.zero_point, int))
        if any(not np.isfinite(s) or s <= 0 for s in self.scale):
            raise ValueError(f"{head}: every scale must be a finite number > 0, got {self.scale}")
        if self.rounding not in AFFINE_ROUNDING:
            raise ValueError(f"{head}: rounding must be one of {', '.join(AFFINE_ROUNDING)}, got {self.rounding!r}")
        if self.narrow and not self.signed:
            raise ValueError(f"{head}: 'narrow' (symmetric range) applies to signed formats only")
        if self.axis is None and (len(self.scale) != 1 or len(self.zero_point) != 1):
            raise ValueError(f"{head}: several scales or zero points need a channel axis (axis=...)")
        if self.axis is not None and len(self.zero_point) == 1 and len(self.scale) > 1:
            object.__setattr__(self, "zero_point", self.zero_point * len(self.scale))
        if self.axis is not None and len(self.zero_point) != len(self.scale):
            raise ValueError(f"{head}: {len(self.scale)} scales but {len(self.zero_point)} zero points")
        bad = [z for z in self.zero_point if not self.raw_min <= z <= self.raw_max]
        if bad:
            raise ValueError(f"{head}: zero point {bad[0]} outside the range [{self.raw_min}, {self.raw_max}]")

    def __str__(self) -> str:
        parts = [str(self.width)]
        if self.axis is not None:
            parts.append(f"axis={self.axis}")
            parts.append("scale=[" + ",".join(repr(s) for s in self.scale) + "]")
            parts.append("zp=[" + ",".join(str(z) for z in self.zero_point) + "]")
        else:
            if self.scale != (1.0,):
                parts.append(f"scale={self.scale[0]!r}")
            if self.zero_point != (0,):
                parts.append(f"zp={self.zero_point[0]}")
        if self.narrow:
            parts.append("narrow")
        if self.rounding != "RND_INF":
            parts.append(self.rounding)
        return f"{'int' if self.signed else 'uint'}<{','.join(parts)}>"

    # ----------------------------------------------------------------- descriptive
    @property
    def raw_min(self) -> int:
        if not self.signed:
            return 0
        return -(1 << (self.width - 1)) + (1 if self.narrow else 0)

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def frac_bits(self) -> int:
        """F when the format is a plain fixed-point one (per-tensor, zero point 0, scale 2**-F); else ValueError."""
        if self.axis is None and self.zero_point == (0,):
            m, e = np.frexp(self.scale[0])
            if m == 0.5:
                return int(1 - e)
        raise ValueError(f"{self}: not a power-of-two scale with zero point 0, so it has no frac_bits")

    def _broadcast(self, values: tuple, ndim: int) -> np.ndarray:
        arr = np.asarray(values)
        if self.axis is None:
            return arr.reshape(())
        axis = self.axis if self.axis >= 0 else ndim + self.axis
        if not 0 <= axis < ndim:
            raise ValueError(f"{self}: channel axis {self.axis} does not exist in an array with {ndim} dimensions")
        shape = [1] * ndim
        shape[axis] = len(values)
        return arr.reshape(shape)

    # ----------------------------------------------------------------- conversions
    def to_raw(self, x, nan: str = "raise") -> np.ndarray:
        """Quantise real values (float array; per-channel along ``axis``) to stored integers (int64).

        Exact: the rounding decision uses the exact rational x / scale.
        """
        if nan not in ("raise", "zero"):
            raise ValueError(f"nan option must be 'raise' or 'zero', got {nan!r}")
        x = np.asarray(x, dtype=np.float64)
        nan_mask = np.isnan(x)
        if nan_mask.any() and nan == "raise":
            raise ValueError(f"{self}: NaN input cannot be quantised (pass nan='zero' to map NaN to the zero point)")
        scale = self._broadcast(self.scale, x.ndim)
        zp = self._broadcast(self.zero_point, x.ndim).astype(np.int64)
        if self.per_channel and x.shape[self.axis] != len(self.scale):
            raise ValueError(f"{self}: {len(self.scale)} channels, but axis {self.axis} of the input has {x.shape}")
        xs = np.where(nan_mask, 0.0, x)
        with np.errstate(over="ignore", invalid="ignore"):
            r = xs / scale
        lim = float(1 << (self.width + 2))
        clipped = np.clip(np.where(np.isfinite(r), r, np.sign(r) * lim), -lim, lim)
        q = _round_exact(xs, np.broadcast_to(scale, xs.shape), clipped, self.rounding)
        q = q + zp
        q = np.where(nan_mask, zp, q)
        return np.clip(q, self.raw_min, self.raw_max).astype(np.int64)

    def from_raw(self, raw) -> np.ndarray:
        """Real values ``scale * (q - zero_point)`` (float64, correctly rounded)."""
        raw = np.asarray(raw, dtype=np.int64)
        scale = self._broadcast(self.scale, raw.ndim)
        zp = self._broadcast(self.zero_point, raw.ndim)
        return (raw - zp).astype(np.float64) * scale

    def quantize(self, x, nan: str = "raise") -> np.ndarray:
        """Round real values to representable values (float64 out)."""
        return self.from_raw(self.to_raw(x, nan=nan))

    def to_bits(self, raw) -> np.ndarray:
        """W-bit register patterns of stored integers."""
        return np.asarray(raw, dtype=np.int64) % (1 << self.width)

    def from_bits(self, bits) -> np.ndarray:
        """Stored integers from W-bit patterns."""
        bits = np.asarray(bits, dtype=np.int64) % (1 << self.width)
        if not self.signed:
            return bits
        return np.where(bits >= 1 << (self.width - 1), bits - (1 << self.width), bits)

    def random_raw(self, rng: np.random.Generator, shape) -> np.ndarray:
        """Uniformly random stored integers in [raw_min, raw_max]."""
        return rng.integers(self.raw_min, self.raw_max, size=shape, endpoint=True, dtype=np.int64)


def _round_exact(x: np.ndarray, scale: np.ndarray, r: np.ndarray, rounding: str) -> np.ndarray:
    """Round x / scale exactly: float quotient r decides, exact rationals settle near-ties."""
    f = np.floor(r)
    d = r - f
    near = np.abs(d - 0.5) < 1e-6  # the float quotient cannot decide these: use exact arithmetic
    up = d > 0.5
    out = f + up
    if rounding == "RND_CONV":
        out = np.where(d == 0.5, f + (np.fmod(f, 2) != 0), out)
    else:
        out = np.where(d == 0.5, np.where(r > 0, f + 1, f), out)
    idx = np.nonzero(near)
    for i in zip(*idx):
        q = Fraction(float(x[i])) / Fraction(float(scale[i]))
        fl = q.numerator // q.denominator
        rem = q - fl
        if rem > Fraction(1, 2):
            v = fl + 1
        elif rem < Fraction(1, 2):
            v = fl
        elif rounding == "RND_CONV":
            v = fl + (fl % 2)
        else:
            v = fl + 1 if q > 0 else fl
        out[i] = v
    return out.astype(np.int64)
