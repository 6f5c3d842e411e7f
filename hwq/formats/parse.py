"""Parse format strings: the canonical ``str(fmt)`` form and the ap_fixed spellings.

``parse(str(fmt)) == fmt`` holds for every format. Accepted spellings:

- ``fixed<W,I[,Q[,O]]>``, ``ufixed<...>``, ``ap_fixed<W,I[,AP_Q[,AP_O]]>``, ``ap_ufixed<...>``
- ``ap_int<W>`` / ``ap_uint<W>`` (= ``fixed<W,W>`` / ``ufixed<W,W>``)
- ``float<E,M[,policy][,bias=B][,nosub][,satfinite][,SR]>`` and the ml_dtypes names ``e4m3fn``, ``e5m2``,
  ``e2m1fn``, ... (also with a ``float8_`` / ``float6_`` / ``float4_`` prefix): ``FloatFormat``
- ``int<W[,scale=S][,zp=Z][,axis=A][,narrow][,RND_CONV]>`` / ``uint<...>``, per-channel
  ``scale=[s0,s1,...]``, ``zp=[z0,z1,...]``: ``IntFormat``
- ``csd<W,I,k>`` / ``ucsd<W,I,k>``: ``CsdFormat`` (at most k non-zero signed digits; ``pow2<W,I>``
  is ``csd<W,I,1>``)

Further kinds may register a parser in ``PARSERS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .affine import AFFINE_ROUNDING, IntFormat
from .csd import CsdFormat
from .fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from .minifloat import FLOAT_ROUNDING, NAMED, POLICIES, FloatFormat

_GENERIC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:<(.*)>)?\s*$")
_MINIFLOAT_NAME = re.compile(r"^(?:float\d+_)?(e\d+m\d+(?:b\d+)?(?:fnuz|fn|f)?)$")

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


def _split_args(text: str, argtext: str) -> list[str]:
    """Split on commas outside [...] brackets."""
    args, depth, cur = [], 0, ""
    for ch in argtext:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"format {text!r}: unbalanced ']'")
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if depth != 0:
        raise ValueError(f"format {text!r}: unbalanced '['")
    args.append(cur.strip())
    return args


def _parse_float(text: str, args: list[str]) -> FloatFormat:
    if len(args) < 2:
        raise ValueError(f"format {text!r}: float takes <E,M[,options]>")
    e = _int_arg(text, args[0], "the exponent bits E")
    m = _int_arg(text, args[1], "the mantissa bits M")
    kw: dict = {}
    for opt in args[2:]:
        low = opt.lower()
        if low in POLICIES:
            kw["policy"] = low
        elif low.startswith("bias="):
            kw["bias"] = _int_arg(text, opt[5:], "the bias")
        elif low == "nosub":
            kw["subnormals"] = False
        elif low == "satfinite":
            kw["satfinite"] = True
        elif opt.upper() in FLOAT_ROUNDING:
            kw["rounding"] = opt.upper()
        else:
            raise ValueError(
                f"format {text!r}: unknown float option {opt!r}; expected one of "
                f"{', '.join(POLICIES)}, bias=N, nosub, satfinite, RNE, SR"
            )
    return FloatFormat(e, m, **kw)


def _parse_named_float(text: str, name: str) -> FloatFormat | None:
    m = _MINIFLOAT_NAME.match(name)
    if not m:
        return None
    key = m.group(1)
    if key not in NAMED:
        raise ValueError(f"format {text!r}: unknown minifloat name {key!r}; known names: {', '.join(NAMED)}")
    e, mb, policy, bias = NAMED[key]
    return FloatFormat(e, mb, policy, bias)


def _parse_list(text: str, value: str, conv, what: str) -> list:
    value = value.strip()
    items = value[1:-1].split(",") if value.startswith("[") and value.endswith("]") else [value]
    try:
        return [conv(v.strip()) for v in items]
    except ValueError:
        raise ValueError(f"format {text!r}: {what} must be a number or a [list] of numbers, got {value!r}") from None


def _parse_int(text: str, head: str, args: list[str]) -> IntFormat:
    if not args:
        raise ValueError(f"format {text!r}: {head} takes <W[,scale=..][,zp=..][,axis=..][,narrow]>")
    w = _int_arg(text, args[0], "the width W")
    kw: dict = {"signed": head == "int"}
    for opt in args[1:]:
        key, _, value = opt.partition("=")
        key = key.strip().lower()
        if key == "scale" and value:
            kw["scale"] = tuple(_parse_list(text, value, float, "scale"))
        elif key in ("zp", "zero_point") and value:
            kw["zero_point"] = tuple(_parse_list(text, value, int, "zero point"))
        elif key == "axis" and value:
            kw["axis"] = _int_arg(text, value, "axis")
        elif key == "narrow" and not value:
            kw["narrow"] = True
        elif opt.upper().removeprefix("AP_") in AFFINE_ROUNDING and not value:
            kw["rounding"] = opt.upper().removeprefix("AP_")
        else:
            raise ValueError(
                f"format {text!r}: unknown option {opt!r}; expected scale=, zp=, axis=, narrow, RND_INF or RND_CONV"
            )
    return IntFormat(w, **kw)


def _parse_csd(text: str, head: str, args: list[str]) -> CsdFormat:
    if head == "pow2":
        if len(args) != 2:
            raise ValueError(f"format {text!r}: pow2 takes <W,I>")
        args = [args[0], args[1], "1"]
    if len(args) != 3:
        raise ValueError(f"format {text!r}: {head} takes <W,I,k> (k = the digit budget), got {len(args)} arguments")
    w = _int_arg(text, args[0], "the width W")
    i = _int_arg(text, args[1], "the integer bits I")
    k = _int_arg(text, args[2], "the digit budget k")
    try:
        return CsdFormat(w, i, k, head != "ucsd")
    except ValueError as exc:
        raise ValueError(f"format {text!r}: {exc}") from None


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
    args = _split_args(text, argtext) if argtext is not None and argtext.strip() else []
    if any(a == "" for a in args):
        raise ValueError(f"format {text!r}: empty argument")
    low = head.lower()
    try:
        if low in ("fixed", "ufixed", "ap_fixed", "ap_ufixed"):
            return _parse_fixed(text, low, args)
        if low in ("ap_int", "ap_uint"):
            if len(args) != 1:
                raise ValueError(f"format {text!r}: {head} takes one argument <W>")
            w = _int_arg(text, args[0], "the width W")
            if w < 1:
                raise ValueError(f"format {text!r}: the width W must be at least 1, got {w}")
            return FixedFormat(w, w, low == "ap_int")
        if low == "float":
            return _parse_float(text, args)
        if low in ("int", "uint"):
            return _parse_int(text, low, args)
        if low in ("csd", "ucsd", "pow2"):
            return _parse_csd(text, low, args)
        if argtext is None:
            named = _parse_named_float(text, low)
            if named is not None:
                return named
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith("format ") else f"format {text!r}: {msg}") from None
    if low in PARSERS:
        return PARSERS[low](text, args)
    for key, fn in PARSERS.items():  # names such as e4m3fn registered under a prefix key "*"
        if key == "*":
            out = fn(text, [low] + args)
            if out is not None:
                return out
    known = ["fixed", "ufixed", "ap_fixed", "ap_ufixed", "ap_int", "ap_uint", "float", "int", "uint", "csd", "ucsd"]
    known += ["pow2", "e4m3fn, e5m2, ... (minifloat names)"] + sorted(k for k in PARSERS if k != "*")
    raise ValueError(f"format {text!r}: unknown format kind {head!r}; known kinds: {', '.join(known)}")
