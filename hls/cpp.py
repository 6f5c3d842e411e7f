"""C++ spellings of hwq formats and values: ``ap_fixed`` types, exact constant literals, array text.

Everything here is pure text formatting: the formats and integers are decided in the IR.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np

from hwq.formats import FixedFormat

from .errors import HLSEmitError
from .minifloat import exact_fixed, float_type


def fixed_type(fmt: FixedFormat) -> str:
    """``ap_fixed<W,I,AP_Q,AP_O>`` / ``ap_ufixed<...>`` for a FixedFormat (modes omitted when TRN/WRAP)."""
    head = "ap_fixed" if fmt.signed else "ap_ufixed"
    args = [str(fmt.width), str(fmt.int_bits)]
    if fmt.rounding != "TRN" or fmt.overflow != "WRAP":
        args += [f"AP_{fmt.rounding}", f"AP_{fmt.overflow}"]
    return f"{head}<{', '.join(args)}>"


def cpp_type(fmt, what: str) -> str:
    """The C++ type of a tensor / parameter format. ``what`` names the owner for the error message."""
    kind = getattr(fmt, "kind", None)
    if isinstance(fmt, FixedFormat) or kind == "fixed":
        return fixed_type(fmt)
    if kind == "float":
        return float_type(fmt)
    raise HLSEmitError(f"{what}: format {fmt} (kind {kind!r}) has no HLS C++ type; use a fixed or float format")


def exact_value(raw: int, frac_bits: int) -> Fraction:
    """The real value raw * 2**-frac_bits as an exact rational."""
    return Fraction(int(raw)) * Fraction(2) ** -frac_bits


def fixed_literal(raw: int, frac_bits: int) -> str:
    """An exact C++ literal of the real value raw * 2**-frac_bits.

    Values with at most 53 significant bits in double range are written as the shortest decimal that
    parses back to the same double (exact: the value is a double); others as an exact hexadecimal float.
    Raises HLSEmitError for values no double can hold (the caller then uses a raw-bit initialiser).
    """
    raw = int(raw)
    if raw == 0:
        return "0"
    v = exact_value(raw, frac_bits)
    if v.denominator == 1 and abs(v.numerator) < (1 << 63):
        n = v.numerator
        return f"{n}LL" if abs(n) >= (1 << 31) else str(n)
    try:
        f = float(v)
    except OverflowError:
        raise HLSEmitError(f"constant {raw}*2^-{frac_bits} is out of double range") from None
    if Fraction(f) != v:
        raise HLSEmitError(f"constant {raw}*2^-{frac_bits} has more than 53 significant bits")
    text = repr(f)
    if "inf" in text or "nan" in text:
        raise HLSEmitError(f"constant {raw}*2^-{frac_bits} is out of double range")
    return text


def array_initialiser(
    values: np.ndarray, frac_bits: int, per_line: int = 16, indent: str = "    ", literal=None
) -> str:
    """Brace-initialiser text of a (possibly multi-dimensional) array of raw integers as exact literals.

    ``literal(raw) -> str`` overrides the element text (default: ``fixed_literal(raw, frac_bits)``)."""
    arr = np.asarray(values)
    lit = literal or (lambda v: fixed_literal(v, frac_bits))

    def rec(a, depth: int) -> str:
        pad = indent * (depth + 1)
        if a.ndim == 1:
            lits = [lit(int(v)) for v in a.ravel()]
            lines = [", ".join(lits[i : i + per_line]) for i in range(0, len(lits), per_line)]
            if len(lines) <= 1:
                return "{" + (lines[0] if lines else "") + "}"
            return "{\n" + ",\n".join(pad + ln for ln in lines) + "\n" + indent * depth + "}"
        parts = [rec(a[i], depth + 1) for i in range(a.shape[0])]
        return "{\n" + ",\n".join(pad + p for p in parts) + "\n" + indent * depth + "}"

    if arr.ndim == 0:
        return lit(int(arr))
    return rec(arr, 0)


def dims(shape) -> str:
    """``[a][b]...`` array dimensions."""
    return "".join(f"[{int(s)}]" for s in shape)


def comment_block(lines: list[str], prefix: str = "// ") -> str:
    """Lines as ``//`` comments (blank lines kept as ``//``)."""
    return "\n".join((prefix + ln).rstrip() for ln in lines)


def mult_fmt(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """The format of ap_fixed's exact product ``a * b`` (W = Wa + Wb, I = Ia + Ib)."""
    return FixedFormat(a.width + b.width, a.int_bits + b.int_bits, a.signed or b.signed)


def plus_fmt(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """The format of ap_fixed's exact sum ``a + b`` (one integer bit more than the wider operand)."""
    i = max(a.int_bits + (b.signed and not a.signed), b.int_bits + (a.signed and not b.signed)) + 1
    return FixedFormat(i + max(a.frac_bits, b.frac_bits), i, a.signed or b.signed)


def cast(expr: str, src: FixedFormat, dst_type: str, dst) -> str:
    """``(dst_type)(expr)`` for a value of format ``src``: ap_fixed's conversion, exactly.

    ap_fixed's conversion reads the rounding bit of the source with an asserted bit index, which fails
    (in the ap_types headers shipped with hls4ml) when the target LSB lies more than W bits above the
    source LSB. The value is then first widened to an exact ``ap_fixed`` with enough integer bits (no
    rounding, no overflow), which leaves the result unchanged and keeps the index in range.
    """
    inner = expr if re.fullmatch(r"[A-Za-z_]\w*(\[[^\[\]]+\])*(\.to_fixed\(\))?", expr) else f"({expr})"
    if getattr(dst, "kind", None) == "float":
        return f"{dst_type}::from_fixed({expr})"
    if getattr(src, "kind", None) == "float":
        src = exact_fixed(src)
    if getattr(dst, "kind", None) == "fixed" and dst.rounding != "TRN" and isinstance(src, FixedFormat):
        shift = src.frac_bits - dst.frac_bits
        if shift > src.width:
            head = "ap_fixed" if src.signed else "ap_ufixed"
            return f"({dst_type})({head}<{shift + 1}, {shift + 1 - src.frac_bits}>){inner}"
    return f"({dst_type}){inner}"


def code_initialiser(fmt, raws) -> str:
    """Brace initialiser of an ``hwq_float`` array (any shape) of minifloat format ``fmt`` from raw
    integers: ``{{code}, ...}``."""
    return array_initialiser(np.asarray(raws), 0, literal=lambda r: f"{{{int(fmt.to_bits(np.array([r]))[0])}}}")
