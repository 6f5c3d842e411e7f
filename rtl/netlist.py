"""A layer's datapath as levelled nodes, and the Verilog helpers that keep every expression width-exact.

Every node holds one exact integer as a ``wire signed [width-1:0]``; its value range ``[lo, hi]`` is
tracked exactly (interval arithmetic over the layer inputs), and ``width`` is the narrowest two's
complement width containing it. An adder therefore never overflows, and an operand wider than the
result may be truncated (arithmetic modulo 2**width is exact when the result fits).

A node's ``level`` is its depth in adder/cast stages from the layer input (inputs and constants: 0).
The printer (``layer.py``) inserts a pipeline stage between levels ``b`` and ``b+1`` when the
``PIPELINE`` parameter says so; a node's Verilog body refers to its operands through ``{0}``, ``{1}``, ...
placeholders that the printer resolves to the operand's copy at that stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def signed_width(lo: int, hi: int) -> int:
    """Narrowest two's complement width (>= 1) holding every integer in ``[lo, hi]``."""
    bits = 0
    if hi > 0:
        bits = max(bits, hi.bit_length())
    if lo < 0:
        bits = max(bits, (-lo - 1).bit_length())
    return bits + 1


def literal(value: int, width: int) -> str:
    """A ``width``-bit signed Verilog literal of ``value`` (two's complement pattern, lint-clean)."""
    if not -(1 << (width - 1)) <= value < (1 << (width - 1)):
        raise ValueError(f"constant {value} does not fit in {width} signed bits")
    return f"$signed({width}'h{value % (1 << width):x})"


def wrap_signed(value: int, width: int) -> int:
    """``value`` modulo 2**width as a signed ``width``-bit integer."""
    half = 1 << (width - 1)
    return ((value + half) % (1 << width)) - half


def low_bits(name: str, from_width: int, bits: int) -> str:
    """The ``bits`` low bits of the signed wire ``name`` (sign-extended when it is narrower), unsigned."""
    if bits <= from_width:
        return f"{name}[{bits - 1}:0]" if bits > 1 else f"{name}[0]"
    ext = bits - from_width
    sign = f"{name}[{from_width - 1}]"
    rep = sign if ext == 1 else f"{{{ext}{{{sign}}}}}"
    return f"{{{rep}, {name}}}"


def high_part(name: str, from_width: int, shift: int) -> tuple[str, int]:
    """(expression, width) of ``name >>> shift`` (floor division by 2**shift) as a signed value."""
    if shift < from_width:
        return f"$signed({name}[{from_width - 1}:{shift}])", from_width - shift
    return f"$signed({name}[{from_width - 1}])", 1


def fit(name: str, from_width: int, to_width: int) -> str:
    """Expression of ``to_width`` bits of the signed wire ``name`` (sign-extended or truncated)."""
    if to_width == from_width:
        return name
    if to_width < from_width:
        return f"$signed({name}[{to_width - 1}:0])"
    ext = to_width - from_width
    sign = f"{name}[{from_width - 1}]"
    rep = sign if ext == 1 else f"{{{ext}{{{sign}}}}}"
    return f"$signed({{{rep}, {name}}})"


def shifted(name: str, from_width: int, shift: int, to_width: int) -> str | None:
    """``to_width`` bits of ``name << shift`` (None when the shift leaves no bits: the term is 0 mod 2**W)."""
    if shift == 0:
        return fit(name, from_width, to_width)
    if shift >= to_width:
        return None
    inner = fit(name, from_width, to_width - shift)
    return f"$signed({{{inner}, {shift}'b0}})"


@dataclass
class Node:
    """One value of the datapath. ``body`` lines use ``{out}`` for this node's wire and ``{0}``, ``{1}``
    for the operands; extra wires it declares must be named ``{out}_<suffix>``."""

    name: str
    lo: int
    hi: int
    level: int
    operands: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    comment: str = ""
    const: bool = False

    @property
    def width(self) -> int:
        """Two's complement width of the wire (narrowest holding [lo, hi])."""
        return signed_width(self.lo, self.hi)
