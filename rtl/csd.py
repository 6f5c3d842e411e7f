"""Canonical signed-digit (CSD, non-adjacent form) decomposition of integer constants.

``csd_digits(v)`` returns the signed digits ``[(sign, shift), ...]`` (sign in {+1, -1}, shift >= 0,
ascending) with ``v == sum(sign << shift)``. The NAF has no two adjacent non-zero digits and the
fewest non-zero digits of any signed-digit form, so a weight of a CSD-k format has at most k digits.
"""

from __future__ import annotations


def csd_digits(value: int) -> list[tuple[int, int]]:
    """Signed digits of the integer ``value`` (non-adjacent form), lowest shift first."""
    v = int(value)
    out: list[tuple[int, int]] = []
    shift = 0
    while v != 0:
        if v & 1:
            d = 2 - (v & 3)  # +1 when v = 1 (mod 4), -1 when v = 3 (mod 4)
            out.append((d, shift))
            v -= d
        v >>= 1
        shift += 1
    return out
