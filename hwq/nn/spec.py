"""Quantiser specs: the config form of a tensor's number format, checked before anything runs.

A spec is either a format string or a table:

- ``"fixed<8,3,RND_CONV,SAT>"`` / ``"ufixed<4,0,RND_CONV,SAT>"``: a static fixed format.
- ``"e4m3fn"`` / ``"e2m1fn"`` / ``"float<4,3,fn>"``: a minifloat format as ``hwq.formats.parse`` reads it
  (its bias fixed; values rounded to nearest even and saturated, as the IR casts minifloats).
- ``{kind = "fixed", width = 4, int_bits = "learn" | "calibrate" | <int>, signed = true,
  rounding = "RND_CONV", overflow = "SAT", learn_width = false}``
- ``{kind = "csd", width = 8, digits = 2, int_bits = "calibrate" | <int>}``  (weights only)
- ``{kind = "float", exp = 4, man = 3, bias = "calibrate" | "learn" | <int>, policy = "fn"}``
  (or ``name = "e4m3fn"``; policy defaults to ``fn`` for E >= 4, ``finite`` below, as ml_dtypes)

``int_bits = "learn"`` starts from a min/max calibration and then learns the binary point (QAT);
``"calibrate"`` sets it by the PTQ calibrator and keeps it fixed. ``check_spec`` raises ``SpecError``
naming the config key (e.g. ``quant.layers.fc1.weight: width must be >= 1, got 0``).
"""

from __future__ import annotations

from hwq.formats import FixedFormat, parse

from .quantizers import (
    MINIFLOAT_POLICIES,
    CSDQuantizer,
    FixedQuantizer,
    MinifloatQuantizer,
    Quantizer,
    default_policy,
)

_FIXED_KEYS = {"kind", "width", "int_bits", "signed", "rounding", "overflow", "learn_width", "max_width", "min_width"}
_CSD_KEYS = {"kind", "width", "digits", "int_bits", "signed", "start_digits"}
_FLOAT_KEYS = {"kind", "exp", "man", "name", "bias", "policy"}


class SpecError(ValueError):
    """A bad quantiser spec; the message starts with the config key."""


def _int(where: str, key: str, v, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{where}.{key}: must be an integer, got {v!r}")
    if lo is not None and v < lo:
        raise SpecError(f"{where}.{key}: must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise SpecError(f"{where}.{key}: must be <= {hi}, got {v}")
    return v


def normalize_spec(spec, where: str) -> dict:
    """Validate a spec and return it as a table with every key filled in. Raises SpecError naming ``where``."""
    if isinstance(spec, str):
        try:
            f = parse(spec)
        except ValueError as e:
            raise SpecError(f"{where}: {e}") from None
        if isinstance(f, FixedFormat):
            return {
                "kind": "fixed",
                "width": f.width,
                "int_bits": f.int_bits,
                "signed": f.signed,
                "rounding": f.rounding,
                "overflow": f.overflow,
                "learn_width": False,
                "min_width": 2,
                "max_width": 16,
            }
        if getattr(f, "kind", None) == "float":
            if f.policy not in MINIFLOAT_POLICIES or not f.subnormals or f.rounding != "RNE":
                raise SpecError(f"{where}: minifloat {spec!r}: only RNE with subnormals is trainable")
            return {"kind": "float", "exp": f.exp_bits, "man": f.man_bits, "bias": f.bias, "policy": f.policy}
        if getattr(f, "kind", None) == "csd":
            return {"kind": "csd", "width": f.width, "digits": f.digits, "int_bits": f.int_bits, "signed": f.signed}
        raise SpecError(f"{where}: format {spec!r} cannot be used for a trainable tensor")
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: expected a format string or a table, got {type(spec).__name__}")
    kind = spec.get("kind", "fixed")
    if kind == "fixed":
        _unknown(spec, _FIXED_KEYS, where)
        out = {
            "kind": "fixed",
            "width": _int(where, "width", spec.get("width", 8), 1, 53),
            "int_bits": spec.get("int_bits", "learn"),
            "signed": spec.get("signed", True),
            "rounding": spec.get("rounding", "RND_CONV"),
            "overflow": spec.get("overflow", "SAT"),
            "learn_width": bool(spec.get("learn_width", False)),
            "min_width": _int(where, "min_width", spec.get("min_width", 2), 1, 53),
            "max_width": _int(where, "max_width", spec.get("max_width", 16), 1, 53),
        }
        if out["int_bits"] not in ("learn", "calibrate"):
            _int(where, "int_bits", out["int_bits"], -64, 64)
        if not isinstance(out["signed"], bool):
            raise SpecError(f"{where}.signed: must be true or false, got {out['signed']!r}")
        try:
            FixedFormat(out["width"], 0, out["signed"], out["rounding"], out["overflow"])
        except ValueError as e:
            raise SpecError(f"{where}: {e}") from None
        return out
    if kind == "csd":
        _unknown(spec, _CSD_KEYS, where)
        out = {
            "kind": "csd",
            "width": _int(where, "width", spec.get("width", 8), 2, 20),
            "digits": _int(where, "digits", spec.get("digits", 2), 1, 20),
            "int_bits": spec.get("int_bits", "calibrate"),
            "signed": spec.get("signed", True),
        }
        out["start_digits"] = _int(where, "start_digits", spec.get("start_digits", out["digits"]), out["digits"], 20)
        if out["int_bits"] == "learn":
            raise SpecError(f"{where}.int_bits: csd weights take 'calibrate' or an integer (no learned point)")
        if out["int_bits"] != "calibrate":
            _int(where, "int_bits", out["int_bits"], -64, 64)
        return out
    if kind == "float":
        _unknown(spec, _FLOAT_KEYS, where)
        if "name" in spec:
            try:
                f = parse(str(spec["name"]))
            except ValueError as e:
                raise SpecError(f"{where}.name: {e}") from None
            if getattr(f, "kind", None) != "float":
                raise SpecError(f"{where}.name: not a minifloat name like 'e4m3fn', got {spec['name']!r}")
            e, mm, policy = f.exp_bits, f.man_bits, f.policy
        else:
            e = _int(where, "exp", spec.get("exp", 4), 1, 8)
            mm = _int(where, "man", spec.get("man", 3), 0, 10)
            policy = spec.get("policy", default_policy(e))
        if policy not in MINIFLOAT_POLICIES:
            raise SpecError(f"{where}.policy: unknown policy {policy!r}; expected one of {MINIFLOAT_POLICIES}")
        bias = spec.get("bias", "calibrate")
        if bias not in ("calibrate", "learn", None):
            _int(where, "bias", bias, -64, 64)
        return {"kind": "float", "exp": e, "man": mm, "bias": bias, "policy": policy}
    raise SpecError(f"{where}.kind: unknown quantiser kind {kind!r}; expected fixed, csd or float")


def _unknown(spec: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(spec) - allowed)
    if extra:
        raise SpecError(f"{where}.{extra[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")


def make_quantizer(spec, where: str = "spec", signed: bool | None = None) -> Quantizer:
    """Build the quantiser a spec describes. ``signed`` overrides the spec's signedness (fixed only)."""
    s = normalize_spec(spec, where)
    if s["kind"] == "fixed":
        learn = s["int_bits"] == "learn"
        ib = s["int_bits"] if isinstance(s["int_bits"], int) else None
        return FixedQuantizer(
            s["width"],
            ib,
            signed=s["signed"] if signed is None else signed,
            rounding=s["rounding"],
            overflow=s["overflow"],
            learn_int_bits=learn,
            learn_width=s["learn_width"],
            min_width=s["min_width"],
            max_width=s["max_width"],
        )
    if s["kind"] == "csd":
        q = CSDQuantizer(s["width"], s["start_digits"], s["int_bits"] if isinstance(s["int_bits"], int) else None)
        q.target_digits = s["digits"]
        return q
    bias = s["bias"] if isinstance(s["bias"], int) else None
    return MinifloatQuantizer(s["exp"], s["man"], bias, learn_bias=s["bias"] == "learn", policy=s["policy"])


def spec_bits(spec, where: str = "spec") -> int:
    """Stored bits per element of a spec's format (1 + E + M for a minifloat)."""
    s = normalize_spec(spec, where)
    return 1 + s["exp"] + s["man"] if s["kind"] == "float" else s["width"]
