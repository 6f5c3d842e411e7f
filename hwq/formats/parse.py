"""Parse format strings: the canonical ``str(fmt)`` form and the ap_fixed spellings.

``parse(str(fmt)) == fmt`` holds for every format. Accepted spellings:

- ``fixed<W,I[,Q[,O]]>``, ``ufixed<...>``, ``ap_fixed<W,I[,AP_Q[,AP_O]]>``, ``ap_ufixed<...>``
- ``ap_int<W>`` / ``ap_uint<W>`` (= ``fixed<W,W>`` / ``ufixed<W,W>``)

Other kinds (``int<W>``, ``float<E,M>``, minifloat names, ``csd<...>``) register a parser in
``PARSERS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

_GENERIC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:<(.*)>)?\s*$")

#: head word -> parser(text, args) for non-fixed kinds; filled by the modules defining them.
PARSERS: dict[str, Callable[[str, list[str]], object]] = {}


def _int_arg(text: str, arg: str, what: str) -> int:
    try:
        return int(arg)
    except ValueError:
        raise ValueError(f"format {text!r}: {what} must be an integer, got {arg!r}") from None


def _parse_fixed(text: str, head: str, args: list[str]) -> FixedFormat:
    signed = head in ("fixed", "ap_fixed")
    if not 2 <= len(args) <= 4:
        raise ValueError(f"format {text!r}: {head} takes 2 to 4 arguments <W,I[,rounding[,overflow]]>, got {len(args)}")
    width = _int_arg(text, args[0], "the width W")
    int_bits = _int_arg(text, args[1], "the integer bits I")
    rounding, overflow = "TRN", "WRAP"
    if len(args) >= 3:
        rounding = args[2].upper().removeprefix("AP_")
        if rounding not in ROUNDING_MODES:
            raise ValueError(
                f"format {text!r}: unknown rounding mode {args[2]!r}; expected one of {', '.join(ROUNDING_MODES)}"
            )
    if len(args) == 4:
        overflow = args[3].upper().removeprefix("AP_")
        if overflow not in OVERFLOW_MODES:
            raise ValueError(
                f"format {text!r}: unknown overflow mode {args[3]!r}; expected one of {', '.join(OVERFLOW_MODES)}"
            )
    if width < 1:
        raise ValueError(f"format {text!r}: the width W must be at least 1, got {width}")
    return FixedFormat(width, int_bits, signed, rounding, overflow)


def parse(text: str):
    """Parse a format string into a format object (``FixedFormat``, ``IntFormat``, ``FloatFormat``, ...).

    Raises ``ValueError`` quoting the string and saying what is wrong.
    """
    if not isinstance(text, str):
        if hasattr(text, "kind"):
            return text  # already a format
        raise ValueError(f"format must be a string, got {type(text).__name__}: {text!r}")
    m = _GENERIC.match(text)
    if not m:
        raise ValueError(f"format {text!r}: not of the form name<args> (e.g. 'fixed<8,3,RND,SAT>')")
    head, argtext = m.group(1), m.group(2)
    args = [a.strip() for a in argtext.split(",")] if argtext is not None and argtext.strip() else []
    if any(a == "" for a in args):
        raise ValueError(f"format {text!r}: empty argument")
    low = head.lower()
    if low in ("fixed", "ufixed", "ap_fixed", "ap_ufixed"):
        return _parse_fixed(text, low, args)
    if low in ("ap_int", "ap_uint"):
        if len(args) != 1:
            raise ValueError(f"format {text!r}: {head} takes one argument <W>")
        w = _int_arg(text, args[0], "the width W")
        if w < 1:
            raise ValueError(f"format {text!r}: the width W must be at least 1, got {w}")
        return FixedFormat(w, w, low == "ap_int")
    if low in PARSERS:
        return PARSERS[low](text, args)
    for key, fn in PARSERS.items():  # names such as e4m3fn registered under a prefix key "*"
        if key == "*":
            out = fn(text, [low] + args)
            if out is not None:
                return out
    known = ["fixed", "ufixed", "ap_fixed", "ap_ufixed", "ap_int", "ap_uint"] + sorted(k for k in PARSERS if k != "*")
    raise ValueError(f"format {text!r}: unknown format kind {head!r}; known kinds: {', '.join(known)}")
