"""C++ spelling of minifloat formats (``hwq_float<...>`` from hls/include/hwq_minifloat.h).

A minifloat tensor is read in arithmetic through ``.to_fixed()``, its exact value as
``ap_fixed<mag_bits + 1, mag_bits + 1 - F>`` (``exact_fixed``), and written through
``T::from_fixed(...)``, the format's single rounding (nearest even, saturating, flush-to-zero without
subnormals), which equals ``FloatFormat.cast_raw``.
"""

from __future__ import annotations

from hwq.formats import FixedFormat

from .errors import HLSEmitError

_POLICY = {"ieee": "HWQ_IEEE", "fn": "HWQ_FN", "fnuz": "HWQ_FNUZ", "finite": "HWQ_FINITE"}


def float_type(fmt) -> str:
    """``hwq_float<E, M, BIAS, POLICY, SUB>`` for a FloatFormat (stochastic rounding is rejected)."""
    if fmt.rounding != "RNE":
        raise HLSEmitError(f"format {fmt}: {fmt.rounding} rounding has no HLS implementation (use RNE)")
    sub = "true" if fmt.subnormals else "false"
    return f"hwq_float<{fmt.exp_bits}, {fmt.man_bits}, {fmt.bias}, {_POLICY[fmt.policy]}, {sub}>"


def mag_bits(fmt) -> int:
    """Bits of the largest raw magnitude code, as the C++ type computes it (M + 2^E - 1)."""
    return fmt.man_bits + (1 << fmt.exp_bits) - 1


def exact_fixed(fmt) -> FixedFormat:
    """The ap_fixed format of ``.to_fixed()`` of a minifloat (holds every code's value exactly)."""
    w = mag_bits(fmt) + 1
    return FixedFormat(w, w - fmt.frac_bits, True)
