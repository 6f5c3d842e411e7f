"""Per-tensor traces of the golden interpreter, and the first mismatch against another implementation.

``trace(graph, inputs)`` runs the interpreter keeping every tensor and summarises each one (producing
op, format, shape, raw and real ranges), in execution order. ``first_mismatch(graph, inputs, other_raw)``
compares the raw integers another implementation produced (a dict of arrays by tensor name, e.g. an npz
written by a C-sim or RTL test bench dump) with the interpreter's, tensor by tensor in execution order,
and reports the first tensor and element that differ: where the two implementations part ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .graph import Graph, GraphError
from .interpreter import RunResult, run


@dataclass
class TensorStat:
    """Summary of one tensor over a batch: raw integers and their real values."""

    name: str
    op: str  # producing op name ("(input)" for graph inputs)
    kind: str  # producing op kind ("input")
    fmt: str
    shape: tuple[int, ...]
    raw_min: int
    raw_max: int
    real_min: float
    real_max: float


def execution_order(graph: Graph) -> list[tuple[str, str, str]]:
    """(tensor, op name, op kind) for the graph inputs and then every op output, in execution order."""
    out = [(n, "(input)", "input") for n in graph.inputs]
    out += [(op.output, op.name, op.kind) for op in graph.ops]
    return out


def stats(graph: Graph, result: RunResult) -> list[TensorStat]:
    """A ``TensorStat`` per traced tensor, in execution order."""
    rows = []
    for name, opname, kind in execution_order(graph):
        if name not in result.raw:
            continue
        raw = result.raw[name]
        t = graph.tensor(name)
        lo, hi = (int(raw.min()), int(raw.max())) if raw.size else (0, 0)
        real = t.fmt.from_raw(np.array([lo, hi], dtype=raw.dtype))
        rows.append(TensorStat(name, opname, kind, str(t.fmt), t.shape, lo, hi, float(real[0]), float(real[1])))
    return rows


def trace(graph: Graph, inputs) -> tuple[RunResult, list[TensorStat]]:
    """Run with every tensor kept; returns the result and the per-tensor summaries."""
    res = run(graph, inputs, trace=True)
    return res, stats(graph, res)


def format_stats(rows: list[TensorStat]) -> list[str]:
    """Aligned text table of ``stats`` rows."""
    head = ("tensor", "op", "kind", "format", "shape", "raw min", "raw max", "real min", "real max")
    body = [
        (
            r.name,
            r.op,
            r.kind,
            r.fmt,
            "x".join(map(str, r.shape)),
            str(r.raw_min),
            str(r.raw_max),
            f"{r.real_min:.6g}",
            f"{r.real_max:.6g}",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    fmt_row = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [fmt_row(head)] + [fmt_row(b) for b in body]


@dataclass
class MismatchReport:
    """Outcome of ``first_mismatch``. ``tensor`` is None when every compared tensor matches."""

    compared: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # tensors the other implementation did not provide
    tensor: str | None = None
    op: str | None = None
    kind: str | None = None
    vector: int | None = None  # batch index
    index: tuple[int, ...] | None = None  # element index within the tensor (no batch axis)
    expected: int | None = None  # interpreter raw
    got: int | None = None  # other implementation's raw
    fmt: str | None = None
    count: int = 0  # mismatching elements in that tensor
    expected_real: float | None = None
    got_real: float | None = None

    @property
    def ok(self) -> bool:
        """True when every compared tensor matched."""
        return self.tensor is None

    def lines(self) -> list[str]:
        """Human-readable report."""
        out = [
            f"compared {len(self.compared)} tensors"
            + ("" if self.ok else " in execution order, up to the mismatch")
            + (f"; not provided: {', '.join(self.missing)}" if self.missing else "")
        ]
        if self.ok:
            out.append("no mismatch: every compared tensor equals the interpreter bit for bit")
            return out
        idx = ", ".join(map(str, self.index))
        out.append(
            f"first mismatch: tensor {self.tensor!r} (op {self.op!r}, {self.kind}, {self.fmt}), vector {self.vector}, "
            f"element [{idx}]: interpreter {self.expected} ({self.expected_real:.6g}), other {self.got} "
            f"({self.got_real:.6g}); {self.count} elements differ in this tensor"
        )
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def diverging_record(self, graph: Graph, vectors, layer: str, **extra) -> dict:
        """The ``first_diverging_layer`` record a verify report carries for this (failed) comparison:
        ``layer`` (the name the caller attributes the tensor to), ``extra`` keys, kind, vector (mapped
        through ``vectors``: the indices of the compared batch in the caller's full vector set), tensor,
        element index (C order, flat), expected/got raw integers and real values."""
        flat = int(np.ravel_multi_index(self.index, graph.tensor(self.tensor).shape)) if self.index else 0
        return {
            "layer": layer,
            **extra,
            "kind": self.kind,
            "vector": int(np.asarray(vectors)[self.vector]),
            "tensor": self.tensor,
            "index": flat,
            "expected_raw": self.expected,
            "got_raw": self.got,
            "expected_real": self.expected_real,
            "got_real": self.got_real,
        }


def _align(name: str, ours: np.ndarray, theirs, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(theirs)
    if arr.dtype != object and arr.dtype.kind not in "iu":
        raise GraphError(f"tensor {name!r}: the other implementation gives {arr.dtype} values; raw integers expected")
    if arr.shape == ours.shape:
        return arr
    if arr.shape == shape and ours.shape[0] == 1:
        return arr[None]
    if arr.size == ours.size and arr.ndim == 2 and arr.shape[0] == ours.shape[0]:
        return arr.reshape(ours.shape)  # a flattened dump per vector
    raise GraphError(f"tensor {name!r}: the other implementation gives shape {arr.shape}, expected {ours.shape}")


def first_mismatch(graph: Graph, inputs, other_raw: dict) -> MismatchReport:
    """Compare another implementation's raw integers with the interpreter's, in execution order.

    other_raw: tensor name -> integer array, shaped ``(B, *shape)`` like the interpreter's (``*shape``
    alone for a single vector; ``(B, size)`` flattened dumps are accepted). Tensors the other side does
    not provide are listed in ``missing``; names that are not tensors of the graph raise GraphError.
    """
    unknown = sorted(set(other_raw) - set(graph.tensors))
    if unknown:
        raise GraphError(f"graph {graph.name!r} has no tensor(s) named {unknown}")
    res = run(graph, inputs, trace=True)
    report = MismatchReport()
    for name, opname, kind in execution_order(graph):
        if name not in other_raw:
            report.missing.append(name)
            continue
        ours = res.raw[name]
        theirs = _align(name, ours, other_raw[name], graph.tensor(name).shape)
        report.compared.append(name)
        diff = (
            ours.astype(object) != theirs.astype(object)
            if (ours.dtype == object or theirs.dtype == object)
            else (ours != theirs.astype(np.int64))
        )
        if np.any(diff):
            pos = tuple(int(i) for i in np.argwhere(diff)[0])
            report.tensor, report.op, report.kind = name, opname, kind
            report.vector, report.index = pos[0], pos[1:]
            report.expected, report.got = int(ours[pos]), int(theirs[pos])
            report.fmt = str(graph.tensor(name).fmt)
            report.count = int(np.count_nonzero(diff))
            fmt = graph.tensor(name).fmt
            report.expected_real = float(np.asarray(fmt.from_raw(np.array([report.expected]))).ravel()[0])
            report.got_real = float(np.asarray(fmt.from_raw(np.array([report.got], dtype=object))).ravel()[0])
            return report
    return report
