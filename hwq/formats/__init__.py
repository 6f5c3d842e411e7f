"""Number formats: fixed point (ap_fixed semantics), affine integers, minifloats, CSD weights.

Every format is a frozen value object with a canonical string, ``parse(str(fmt)) == fmt``, and the
same conversion API: ``to_raw`` (exact quantisation to integers in units of the format's LSB),
``from_raw``, ``quantize``, ``to_bits`` / ``from_bits`` (register patterns).
"""

from .fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, apply_overflow, cast_raw, shift_round
from .parse import parse

__all__ = [
    "FixedFormat",
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "apply_overflow",
    "cast_raw",
    "parse",
    "shift_round",
]
