"""Storage mapping of IR tensor formats onto CMSIS-NN's C element types.

A CMSIS-NN kernel reads and writes plain ``int8_t`` (s8/s4 kernels) or ``int16_t`` (s16 kernels). An IR
tensor's raw integers map onto that storage exactly as ``storage = raw + storage_offset``:

- ``int<8>``, ``fixed<8,I>`` and any signed format of at most 8 bits: ``int8_t``, offset 0;
- ``uint<8>``, ``ufixed<8,I>``: ``int8_t``, offset -128 (raw 0..255 -> -128..127); an unsigned format
  of fewer than 8 bits fits ``int8_t`` with offset 0;
- ``int<16>``, ``fixed<16,I>`` and signed formats of 9..16 bits: ``int16_t``, offset 0.

The offsets are folded into the kernels' ``input_offset`` / ``output_offset`` / activation bounds at
emit time, so the generated code never converts. Every other format (minifloats, CSD, wider integers)
has no CMSIS-NN storage and is refused with the format named.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Storage:
    """C storage of an activation tensor: element type, bytes per element, and ``storage - raw``."""

    ctype: str  # "int8_t" | "int16_t"
    nbytes: int  # 1 | 2
    offset: int  # storage = raw + offset
    raw_min: int
    raw_max: int

    @property
    def bits(self) -> int:
        """Storage width in bits (8 or 16)."""
        return 8 * self.nbytes


def storage_of(fmt) -> Storage | str:
    """Storage of a tensor format, or the reason (one line) why CMSIS-NN cannot hold it."""
    try:
        return _storage_cached(fmt)
    except TypeError:  # an unhashable format object
        return _storage(fmt)


@functools.lru_cache(maxsize=4096)
def _storage_cached(fmt) -> Storage | str:
    return _storage(fmt)


def _storage(fmt) -> Storage | str:
    kind = type(fmt).__name__
    if kind not in ("FixedFormat", "IntFormat"):
        return f"format {fmt} has no CMSIS-NN storage (only 8/16-bit integer and fixed-point formats)"
    lo, hi = int(fmt.raw_min), int(fmt.raw_max)
    if -128 <= lo and hi <= 127:
        return Storage("int8_t", 1, 0, lo, hi)
    if 0 <= lo and hi <= 255:
        return Storage("int8_t", 1, -128, lo, hi)
    if -32768 <= lo and hi <= 32767 and fmt.signed:
        return Storage("int16_t", 2, 0, lo, hi)
    return f"format {fmt} has no CMSIS-NN storage (raw range [{lo}, {hi}] fits neither int8 nor int16)"
