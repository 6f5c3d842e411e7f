"""The published schema of hwq IR files (``graph.json``), derived from the op dataclasses, and its checker.

``validate_document(d, source)`` checks a parsed ``graph.json`` field by field before any object is built
and raises ``GraphError("SOURCE: JSON.PATH: what is wrong")`` naming the first bad field, e.g.
``runs/a/graph.json: ops[2].weight.shape[1]: op 'fc2' (dense): expected an integer, got null``.
``json_schema()`` returns the same rules as a JSON Schema (draft 2020-12) document (``python -m
hwq.ir.schema`` prints it), for tools in other languages.

Nothing here is a hand-written list of ops: every op kind registered in ``hwq.ir.OPS`` and every field of
its dataclass is covered, with the field's kind taken from its type annotation:

=====================  ==========================================================================
annotation             JSON value
=====================  ==========================================================================
``np.ndarray``         ``{"dtype": "int64"|"float64", "shape": [...], "data": base64 of little-endian
                       8-byte values}`` or ``{"dtype": "pyint", "shape": [...], "ints": ["123", ...]}``
``FixedFormat``        ``{"format": "fixed<...>"}`` (a fixed-point format string)
``object`` (``*_fmt``)  ``{"format": "..."}``: any format string ``hwq.formats.parse`` accepts
``tuple[int, ...]``    a list of integers (``tuple[int, int]``: exactly two)
``int`` / ``bool`` /   an integer / ``true``/``false`` / a string / a number
``str`` / ``float``
``X | None``           also ``null``
=====================  ==========================================================================

A field whose default is ``None`` also accepts ``null`` (the op's own check decides whether it is needed
in the op's mode). Every field is required, except those marked ``omit_default`` in the dataclass
(attributes added after the format was in use: a file without them loads with the default).
Limits (to refuse absurd files before allocating): at most ``MAX_ELEMENTS`` elements per tensor or array,
shape entries and integer-tuple entries below 2**31, scalar integers below 2**2048 in magnitude, formats
with at most ``MAX_FRAC_BITS`` fractional (or negative fractional) bits.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import re
from dataclasses import dataclass

from .graph import OPS, GraphError

#: the version this module describes (``"hwq_ir"`` key)
SCHEMA_VERSION = 1
#: most elements of one tensor or one parameter array
MAX_ELEMENTS = 1 << 24
#: largest distance of a format's binary point from its LSB (|frac_bits|) in a file
MAX_FRAC_BITS = 4096
_MAX_DIM = (1 << 31) - 1
_MAX_INT_BITS = 2048
_BASE_FIELDS = ("name", "inputs", "output")
_INT_TEXT = re.compile(r"-?[0-9]{1,700}")


@dataclass(frozen=True)
class FieldSpec:
    """How one op attribute is stored in JSON: ``kind`` is array | format | fixed_format | ints | int |
    bool | str | number | any; ``length`` for fixed-length int tuples; ``nullable``; ``required``."""

    name: str
    kind: str
    length: int | None = None
    nullable: bool = False
    required: bool = True


def _annotation_text(f: dataclasses.Field) -> str:
    t = f.type
    return t if isinstance(t, str) else getattr(t, "__name__", None) or str(t)


def field_spec(f: dataclasses.Field) -> FieldSpec:
    """The JSON storage rule of one op dataclass field, from its annotation (see the module docstring)."""
    text = _annotation_text(f).replace("typing.", "").replace(" ", "")
    nullable = "None" in text or "Optional" in text or f.default is None
    required = not f.metadata.get("omit_default", False)
    core = re.sub(r"\|None|None\||Optional\[(.*)\]", r"\1", text)
    if "ndarray" in core:
        kind, length = "array", None
    elif "FixedFormat" in core:
        kind, length = "fixed_format", None
    elif core == "object" and f.name.endswith("fmt"):
        kind, length = "format", None
    elif core.startswith("tuple[") or core.startswith("Tuple["):
        items = core[core.index("[") + 1 : -1].split(",")
        if not all(i in ("int", "...") for i in items):
            kind, length = "any", None
        else:
            kind, length = "ints", (None if "..." in items else len(items))
    elif core in ("int", "bool", "str", "float"):
        kind, length = {"int": "int", "bool": "bool", "str": "str", "float": "number"}[core], None
    else:
        kind, length = "any", None
    return FieldSpec(f.name, kind, length, nullable, required)


def op_specs(cls) -> list[FieldSpec]:
    """The attribute rules of an op class (every dataclass field except name, inputs, output)."""
    return [field_spec(f) for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS]


# ---------------------------------------------------------------------------------------------------------
# checker


class _Bad(Exception):
    def __init__(self, path: str, msg: str):
        super().__init__(msg)
        self.path, self.msg = path, msg


def _show(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return "an object" if isinstance(v, dict) else "a list"
    if isinstance(v, int) and v.bit_length() > 64:
        return f"an integer of {v.bit_length()} bits"
    s = json.dumps(v) if isinstance(v, (str, float)) else repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _dict(v, path: str) -> dict:
    if not isinstance(v, dict):
        raise _Bad(path, f"expected an object, got {_show(v)}")
    return v


def _list(v, path: str) -> list:
    if not isinstance(v, list):
        raise _Bad(path, f"expected a list, got {_show(v)}")
    return v


def _str(v, path: str, nonempty: bool = True) -> str:
    if not isinstance(v, str):
        raise _Bad(path, f"expected a string, got {_show(v)}")
    if nonempty and not v:
        raise _Bad(path, "expected a non-empty string")
    return v


def _int(v, path: str, lo: int | None = None, hi: int | None = None) -> int:
    if not _is_int(v):
        raise _Bad(path, f"expected an integer, got {_show(v)}")
    if v.bit_length() > _MAX_INT_BITS:
        raise _Bad(path, f"integer of {v.bit_length()} bits is too large")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _Bad(path, f"expected an integer in [{lo}, {hi}], got {_show(v)}")
    return v


def _keys(d: dict, path: str, allowed: set[str], required: set[str], what: str = "key") -> None:
    for k in d:
        if k not in allowed:
            raise _Bad(
                f"{path}.{k}" if path else str(k), f"unknown {what} {k!r}; expected one of {', '.join(sorted(allowed))}"
            )
    for k in sorted(required):
        if k not in d:
            raise _Bad(f"{path}.{k}" if path else k, f"missing key {k!r}")


def _shape(v, path: str) -> tuple[int, ...]:
    dims = tuple(_int(s, f"{path}[{i}]", 0, _MAX_DIM) for i, s in enumerate(_list(v, path)))
    n = math.prod(dims)
    if n > MAX_ELEMENTS:
        raise _Bad(path, f"{n} elements is more than the limit of {MAX_ELEMENTS}")
    return dims


def _format(v, path: str, fixed: bool = False):
    from hwq.formats import FixedFormat, parse

    _str(v, path)
    if len(v) > 200_000:  # per-channel affine formats list one scale per channel (~25 characters each)
        raise _Bad(path, f"format string of {len(v)} characters is too long")
    try:
        fmt = parse(v)
    except Exception as e:  # any parse failure is the file's fault
        raise _Bad(path, f"bad format string {_show(v)}: {e}") from None
    if fixed and not isinstance(fmt, FixedFormat):
        raise _Bad(path, f"expected a fixed-point format (fixed<W,I,...>), got {_show(v)}")
    try:
        fb = fmt.frac_bits
    except (AttributeError, ValueError):  # e.g. an affine format without a power-of-two scale
        fb = 0
    if isinstance(fb, int) and abs(fb) > MAX_FRAC_BITS:
        raise _Bad(path, f"format {_show(v)} puts the binary point {fb} bits away; the limit is {MAX_FRAC_BITS}")
    return fmt


def _array(v, path: str) -> None:
    d = _dict(v, path)
    dtype = d.get("dtype")
    if dtype not in ("int64", "float64", "pyint"):
        raise _Bad(f"{path}.dtype", f'expected "int64", "float64" or "pyint", got {_show(dtype)}')
    payload = "ints" if dtype == "pyint" else "data"
    _keys(d, path, {"dtype", "shape", payload}, {"dtype", "shape", payload})
    n = math.prod(_shape(d["shape"], f"{path}.shape"))
    if dtype == "pyint":
        ints = _list(d["ints"], f"{path}.ints")
        if len(ints) != n:
            raise _Bad(f"{path}.ints", f"holds {len(ints)} values, shape needs {n}")
        for i, x in enumerate(ints):
            if not (isinstance(x, str) and _INT_TEXT.fullmatch(x)) and not _is_int(x):
                raise _Bad(f"{path}.ints[{i}]", f"expected a decimal integer string, got {_show(x)}")
        return
    data = _str(d["data"], f"{path}.data", nonempty=False)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"{path}.data", "not valid base64") from None
    if len(raw) != 8 * n:
        raise _Bad(f"{path}.data", f"holds {len(raw)} bytes, shape needs {8 * n} ({n} 8-byte values)")


def _value(spec: FieldSpec, v, path: str) -> None:
    if v is None:
        if spec.nullable or spec.kind == "any":
            return
        raise _Bad(path, f"must not be null (expected {spec.kind.replace('_', ' ')})")
    k = spec.kind
    if k == "array":
        _array(v, path)
    elif k in ("format", "fixed_format"):
        d = _dict(v, path)
        _keys(d, path, {"format"}, {"format"})
        _format(d["format"], f"{path}.format", fixed=k == "fixed_format")
    elif k == "ints":
        items = _list(v, path)
        if spec.length is not None and len(items) != spec.length:
            raise _Bad(path, f"expected {spec.length} integers, got {len(items)}")
        for i, x in enumerate(items):
            _int(x, f"{path}[{i}]", -_MAX_DIM, _MAX_DIM)
    elif k == "int":
        _int(v, path)
    elif k == "bool":
        if not isinstance(v, bool):
            raise _Bad(path, f"expected true or false, got {_show(v)}")
    elif k == "str":
        _str(v, path, nonempty=False)
    elif k == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _Bad(path, f"expected a finite number, got {_show(v)}")


def _check(d) -> None:
    d = _dict(d, "$")
    if "hwq_ir" not in d:
        raise _Bad("$", "not an hwq IR file (no 'hwq_ir' version key)")
    if not _is_int(d["hwq_ir"]) or d["hwq_ir"] != SCHEMA_VERSION:
        raise _Bad(
            "hwq_ir", f"IR schema version {_show(d['hwq_ir'])} is not supported (this hwq reads {SCHEMA_VERSION})"
        )
    top = {"hwq_ir", "name", "inputs", "outputs", "tensors", "ops"}
    _keys(d, "", top | {"meta"}, top)
    _str(d["name"], "name")
    for key in ("inputs", "outputs"):
        names_ = _list(d[key], key)
        if not names_:
            raise _Bad(key, "a graph needs at least one tensor here, got []")
        for i, n in enumerate(names_):
            _str(n, f"{key}[{i}]")
            if n in names_[:i]:
                raise _Bad(f"{key}[{i}]", f"tensor {n!r} listed twice")
    if "meta" in d:
        _dict(d["meta"], "meta")
    names = set()
    for i, t in enumerate(_list(d["tensors"], "tensors")):
        p = f"tensors[{i}]"
        _dict(t, p)
        name = t.get("name")
        try:
            _keys(t, p, {"name", "shape", "format"}, {"name", "shape", "format"})
            _str(t["name"], f"{p}.name")
            if name in names:
                raise _Bad(f"{p}.name", "defined twice")
            names.add(name)
            _shape(t["shape"], f"{p}.shape")
            _format(t["format"], f"{p}.format")
        except _Bad as e:
            raise _Bad(e.path, (f"tensor {name!r}: " if isinstance(name, str) else "") + e.msg) from None
    for i, od in enumerate(_list(d["ops"], "ops")):
        p = f"ops[{i}]"
        _dict(od, p)
        kind = od.get("kind")
        name = od.get("name")
        who = f"op {name!r}" if isinstance(name, str) else "op"
        if not isinstance(kind, str) or kind not in OPS:
            raise _Bad(f"{p}.kind", f"{who} has unknown kind {kind!r}; known: {sorted(OPS)}")
        where = f"{who} ({kind}): "
        try:
            specs = op_specs(OPS[kind])
            _keys(
                od,
                p,
                {"kind", *_BASE_FIELDS, *(s.name for s in specs)},
                {"kind", *_BASE_FIELDS, *(s.name for s in specs if s.required)},
                what="attribute",
            )
            _str(od["name"], f"{p}.name")
            for j, n in enumerate(_list(od["inputs"], f"{p}.inputs")):
                _str(n, f"{p}.inputs[{j}]")
            _str(od["output"], f"{p}.output")
            for s in specs:
                if s.name in od:
                    _value(s, od[s.name], f"{p}.{s.name}")
        except _Bad as e:
            raise _Bad(e.path, where + e.msg) from None


def validate_document(d, source: str = "<dict>") -> None:
    """Check a parsed IR document against the schema; raise GraphError ``SOURCE: PATH: problem`` naming
    the JSON path of the first bad field (``tensors[1].format``, ``ops[0].weight.shape[1]``)."""
    try:
        _check(d)
    except _Bad as e:
        path = "" if e.path == "$" else f"{e.path}: "
        raise GraphError(f"{source}: {path}{e.msg}") from None


# ---------------------------------------------------------------------------------------------------------
# JSON Schema


def _int_schema(lo=None, hi=None) -> dict:
    s: dict = {"type": "integer"}
    if lo is not None:
        s["minimum"] = lo
    if hi is not None:
        s["maximum"] = hi
    return s


def _shape_schema() -> dict:
    return {"type": "array", "items": _int_schema(0, _MAX_DIM)}


def _array_schema() -> dict:
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "dtype": {"enum": ["int64", "float64"]},
                    "shape": _shape_schema(),
                    "data": {"type": "string", "contentEncoding": "base64"},
                },
                "required": ["dtype", "shape", "data"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "dtype": {"const": "pyint"},
                    "shape": _shape_schema(),
                    "ints": {"type": "array", "items": {"type": "string", "pattern": "^-?[0-9]+$"}},
                },
                "required": ["dtype", "shape", "ints"],
                "additionalProperties": False,
            },
        ]
    }


def _spec_schema(s: FieldSpec) -> dict:
    if s.kind == "array":
        out = _array_schema()
    elif s.kind in ("format", "fixed_format"):
        what = "fixed-point format" if s.kind == "fixed_format" else "number format (hwq.formats.parse)"
        out = {
            "type": "object",
            "properties": {"format": {"type": "string", "description": what}},
            "required": ["format"],
            "additionalProperties": False,
        }
    elif s.kind == "ints":
        out = {"type": "array", "items": _int_schema(-_MAX_DIM, _MAX_DIM)}
        if s.length is not None:
            out.update(minItems=s.length, maxItems=s.length)
    elif s.kind == "int":
        out = _int_schema()
    elif s.kind == "bool":
        out = {"type": "boolean"}
    elif s.kind == "str":
        out = {"type": "string"}
    elif s.kind == "number":
        out = {"type": "number"}
    else:
        return {}
    return {"anyOf": [out, {"type": "null"}]} if s.nullable else out


def json_schema() -> dict:
    """The IR file layout as a JSON Schema (draft 2020-12) document, one ``$defs`` entry per op kind.

    Rules a JSON Schema cannot state (format strings parse, base64 length matches the shape, element
    limits, unique names) are checked by ``validate_document`` only."""
    defs = {}
    for kind, cls in sorted(OPS.items()):
        specs = op_specs(cls)
        props = {
            "kind": {"const": kind},
            "name": {"type": "string", "minLength": 1},
            "inputs": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "output": {"type": "string", "minLength": 1},
        }
        props.update({s.name: _spec_schema(s) for s in specs})
        defs[f"op_{kind}"] = {
            "type": "object",
            "description": (cls.__doc__ or kind).strip().splitlines()[0],
            "properties": props,
            "required": ["kind", *_BASE_FIELDS, *(s.name for s in specs if s.required)],
            "additionalProperties": False,
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"hwq IR graph, version {SCHEMA_VERSION}",
        "type": "object",
        "properties": {
            "hwq_ir": {"const": SCHEMA_VERSION},
            "name": {"type": "string", "minLength": 1},
            "inputs": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "uniqueItems": True,
            },
            "outputs": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "uniqueItems": True,
            },
            "meta": {"type": "object"},
            "tensors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "shape": _shape_schema(),
                        "format": {"type": "string", "description": "number format (hwq.formats.parse)"},
                    },
                    "required": ["name", "shape", "format"],
                    "additionalProperties": False,
                },
            },
            "ops": {"type": "array", "items": {"oneOf": [{"$ref": f"#/$defs/{k}"} for k in sorted(defs)]}},
        },
        "required": ["hwq_ir", "name", "inputs", "outputs", "tensors", "ops"],
        "additionalProperties": False,
        "$defs": defs,
    }


if __name__ == "__main__":
    import hwq.ir  # noqa: F401  (registers every op)

    print(json.dumps(json_schema(), indent=1))
