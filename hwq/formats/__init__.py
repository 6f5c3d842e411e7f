"""Number formats: fixed point (ap_fixed semantics), affine integers, minifloats, CSD weights.

Every format is a frozen value object with a canonical string, ``parse(str(fmt)) == fmt``, and the
same conversion API: ``to_raw`` (exact quantisation to integers in units of the format's LSB),
``from_raw``, ``quantize``, ``to_bits`` / ``from_bits`` (register patterns), ``random_raw(rng, shape)``.
Fixed, CSD and minifloat formats also share the IR protocol ``frac_bits``, ``raw_min``/``raw_max``,
``cast_raw(raw, from_frac_bits)``. Torch quantisers live in ``hwq.formats.torch_quant`` (the only
module here that imports torch).
"""

from .affine import IntFormat
from .csd import CsdFormat, csd_digit_count, csd_digits
from .fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat, apply_overflow, cast_raw, shift_round
from .minifloat import FloatFormat
from .parse import parse
from .requant import quantize_multiplier, requantize
from .rules import accumulator_format, add_format, as_fixed, mul_format, sub_format

__all__ = [
    "CsdFormat",
    "FixedFormat",
    "FloatFormat",
    "IntFormat",
    "accumulator_format",
    "add_format",
    "as_fixed",
    "csd_digit_count",
    "csd_digits",
    "mul_format",
    "quantize_multiplier",
    "requantize",
    "sub_format",
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "apply_overflow",
    "cast_raw",
    "parse",
    "shift_round",
]
