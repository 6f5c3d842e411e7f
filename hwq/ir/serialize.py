"""Versioned JSON (de)serialisation of IR graphs.

Layout of the file (``SCHEMA_VERSION``)::

    {"hwq_ir": 1, "name": ..., "inputs": [...], "outputs": [...], "meta": {...},
     "tensors": [{"name", "shape", "format"}],
     "ops": [{"kind", "name", "inputs", "output", <attrs>}]}

Op attributes are the op dataclass's fields: formats as their canonical strings, integer arrays as
``{"dtype": "int64", "shape": [...], "data": <base64 of little-endian int64>}`` (or ``"ints"``: a list
of decimal strings for arrays of wider Python ints), tuples as lists. Attributes added after a file
format was in use (marked ``omit_default`` in the op dataclass, e.g. ``input_offset``) are written only
when they differ from their default, and a file without them loads with the default.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from hwq.formats import parse

from .graph import OPS, Graph, GraphError

SCHEMA_VERSION = 1
_BASE_FIELDS = {"name", "inputs", "output"}


def _is_format(v) -> bool:
    return hasattr(v, "kind") and (hasattr(v, "cast_raw") or hasattr(v, "to_raw")) and not isinstance(v, type)


def _encode(v):
    if isinstance(v, np.ndarray):
        if v.dtype == object:
            return {"dtype": "pyint", "shape": list(v.shape), "ints": [str(int(x)) for x in v.ravel()]}
        if v.dtype.kind == "f":
            arr = np.ascontiguousarray(v, dtype="<f8")
            return {"dtype": "float64", "shape": list(v.shape), "data": base64.b64encode(arr.tobytes()).decode()}
        arr = np.ascontiguousarray(v, dtype="<i8")
        return {"dtype": "int64", "shape": list(v.shape), "data": base64.b64encode(arr.tobytes()).decode()}
    if _is_format(v):
        return {"format": str(v)}
    if isinstance(v, (tuple, list)):
        return [_encode(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _encode(x) for k, x in v.items()}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def _decode(v, where: str):
    if isinstance(v, dict):
        if "format" in v and len(v) == 1:
            return parse(v["format"])
        if "dtype" in v and "shape" in v:
            shape = tuple(v["shape"])
            try:
                if v["dtype"] == "pyint":
                    return np.array([int(x) for x in v["ints"]], dtype=object).reshape(shape)
                dt = {"int64": "<i8", "float64": "<f8"}[v["dtype"]]
                arr = np.frombuffer(base64.b64decode(v["data"]), dtype=dt).reshape(shape)
                return arr.astype(np.int64 if dt == "<i8" else np.float64)
            except (KeyError, ValueError) as e:
                raise GraphError(f"{where}: malformed array ({e})") from None
        return {k: _decode(x, where) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x, where) for x in v]
    return v


def _is_default(v, default) -> bool:
    """True when ``v`` equals a field's default (scalars only: numbers, strings, None)."""
    if v is None or default is None:
        return v is default
    if isinstance(v, (bool, str)) or isinstance(default, (bool, str)):
        return type(v) is type(default) and v == default
    if isinstance(v, (int, np.integer)) and isinstance(default, int):
        return int(v) == default
    return False


def graph_to_dict(graph: Graph) -> dict:
    """The JSON-ready dict of a graph (see the module docstring)."""
    ops = []
    for op in graph.ops:
        d = {"kind": op.kind, "name": op.name, "inputs": list(op.inputs), "output": op.output}
        for f in dataclasses.fields(op):
            if f.name in _BASE_FIELDS:
                continue
            v = getattr(op, f.name)
            if f.metadata.get("omit_default") and _is_default(v, f.default):
                continue  # attributes added later (e.g. input_offset) stay out of the file at their default
            d[f.name] = _encode(v)
        ops.append(d)
    return {
        "hwq_ir": SCHEMA_VERSION,
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "meta": _encode(graph.meta),
        "tensors": [{"name": t.name, "shape": list(t.shape), "format": str(t.fmt)} for t in graph.tensors.values()],
        "ops": ops,
    }


def _tuple_fields(cls) -> set[str]:
    out = set()
    for f in dataclasses.fields(cls):
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if "tuple" in str(ann):
            out.add(f.name)
    return out


def graph_from_dict(d: dict, source: str = "<dict>") -> Graph:
    """Rebuild a graph from ``graph_to_dict`` output; raises GraphError naming the source and what is wrong.

    The document is first checked against the published schema (``hwq.ir.schema.validate_document``:
    types, shapes, ranges, format strings, op attributes; the message names the JSON path of the first
    bad field), then the graph is built and validated (``Graph.validate``: names, order, every op's check).
    """
    from .schema import validate_document

    validate_document(d, source)
    try:
        meta = _decode(d.get("meta", {}), f"{source}: meta")
    except GraphError:
        raise
    except Exception as e:  # a malformed value inside meta
        raise GraphError(f"{source}: meta: {type(e).__name__}: {e}") from None
    g = Graph(d["name"], list(d["inputs"]), list(d["outputs"]), meta=meta if isinstance(meta, dict) else {})
    for i, t in enumerate(d["tensors"]):
        try:
            g.add_tensor(t["name"], t["shape"], parse(t["format"]))
        except ValueError as e:
            raise GraphError(f"{source}: tensors[{i}] ({t['name']!r}): {e}") from None
    for i, od in enumerate(d["ops"]):
        kind = od["kind"]
        cls = OPS[kind]
        where = f"{source}: ops[{i}] (op {od['name']!r}, {kind})"
        tuples = _tuple_fields(cls)
        kwargs = {}
        try:
            for k, v in od.items():
                if k == "kind":
                    continue
                val = _decode(v, f"{where}.{k}")
                if k in tuples and isinstance(val, list):
                    val = tuple(tuple(x) if isinstance(x, list) else x for x in val)
                kwargs[k] = val
            g.add_op(cls(**kwargs))
        except GraphError:
            raise
        except Exception as e:  # the schema passed but the op refuses its attributes
            raise GraphError(f"{where}: {type(e).__name__}: {e}") from None
    _validate(g, source)
    return g


def _validate(g: Graph, source: str) -> None:
    """``g.validate()`` with errors prefixed by the source and the failing op's JSON path."""
    try:
        g.validate()
        return
    except GraphError as e:
        raise GraphError(f"{source}: {e}") from None
    except Exception as e:  # an op's check tripped over a value it did not expect: name that op
        err = e
    for i, o in enumerate(g.ops):
        try:
            o.check(g)
        except Exception as e:
            raise GraphError(f"{source}: ops[{i}] (op {o.name!r}, {o.kind}): {type(e).__name__}: {e}") from None
    raise GraphError(f"{source}: invalid graph ({type(err).__name__}: {err})") from None


def dumps(graph: Graph) -> str:
    """Serialise a graph to JSON text (deterministic: same graph, same bytes)."""
    return json.dumps(graph_to_dict(graph), indent=1, sort_keys=False) + "\n"


def loads(text: str, source: str = "<string>") -> Graph:
    """Parse JSON text into a validated graph."""
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise GraphError(f"{source}: not valid JSON (truncated or corrupt?): {e}") from None
    except (ValueError, RecursionError) as e:  # e.g. an integer with too many digits, absurd nesting
        raise GraphError(f"{source}: not a readable IR file: {e}") from None
    return graph_from_dict(d, source)


def save(graph: Graph, path) -> Path:
    """Write a graph to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(dumps(graph))
    os.replace(tmp, path)
    return path


def load(path) -> Graph:
    """Read and validate a graph file; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise GraphError(f"{path}: no such IR file")
    if path.is_dir():
        raise GraphError(f"{path}: is a folder, not an IR file (graph.json)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise GraphError(f"{path}: cannot read the IR file ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise GraphError(f"{path}: not an IR file (not UTF-8 text: byte {e.start} is 0x{data[e.start]:02x})") from None
    return loads(text, str(path))
