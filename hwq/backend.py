"""The one shape every backend (HLS, RTL, MCU) shares: a registry of op implementations keyed by IR op kind.

Each backend owns one ``OpRegistry``. An entry is one clearly named function per op kind (its ``impl``:
what the backend calls to print/build that op), an optional capability check ``supports(op, graph) ->
None | reason`` and backend-specific facts (``info``, e.g. whether an RTL op starts a layer). Emit, the
cost model and the explorer ask the same question, ``registry.supports(op, graph)``, and get ``None``
(the backend implements this op exactly) or a one-line reason naming what it cannot take.

Adding an op to a backend is one decorated function::

    @REGISTRY.register("abs", supports=fixed_only)
    def abs_(op, ...):
        ...

An op kind that is not registered is refused with "not supported by the <backend> backend".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: ``supports(op, graph) -> None | reason``
Supports = Callable[[object, object], "str | None"]


@dataclass(frozen=True)
class OpEntry:
    """One op kind's implementation in one backend.

    ``impl``: the backend's function for this kind (its signature is the backend's own);
    ``supports``: capability check (None: every op of this kind is supported); ``info``: backend facts.
    """

    kind: str
    impl: Callable
    supports: Supports | None = None
    info: dict = field(default_factory=dict)


class OpRegistry:
    """Op kind -> ``OpEntry`` for one backend (``name``: "hls", "rtl", "mcu"; used in messages).

    ``error``: the exception class ``check``/``check_graph`` raise (the backend's ValueError subclass).
    """

    def __init__(self, name: str, error: type[Exception] = ValueError, label: str | None = None) -> None:
        self.name = name
        self.label = label or f"the {name} backend"
        self.error = error
        self._entries: dict[str, OpEntry] = {}

    def register(self, kind: str, *, supports: Supports | None = None, **info) -> Callable:
        """Decorator: register the decorated function as ``kind``'s implementation; returns it unchanged."""

        def deco(fn: Callable) -> Callable:
            self.add(kind, fn, supports=supports, **info)
            return fn

        return deco

    def add(self, kind: str, impl: Callable, *, supports: Supports | None = None, **info) -> None:
        """Register ``impl`` for op kind ``kind`` (each kind once per backend)."""
        if kind in self._entries:
            raise ValueError(f"{self.label}: op kind {kind!r} is registered twice")
        self._entries[kind] = OpEntry(kind, impl, supports, dict(info))

    def __contains__(self, kind: str) -> bool:
        return kind in self._entries

    def kinds(self) -> list[str]:
        """Registered op kinds, sorted."""
        return sorted(self._entries)

    def entry(self, kind: str) -> OpEntry:
        """The entry of ``kind`` (KeyError when it is not registered)."""
        return self._entries[kind]

    def get(self, kind: str) -> OpEntry | None:
        """The entry of ``kind`` or None."""
        return self._entries.get(kind)

    def with_info(self, key: str, value=True) -> tuple[str, ...]:
        """Kinds whose ``info[key] == value``, sorted."""
        return tuple(k for k in sorted(self._entries) if self._entries[k].info.get(key) == value)

    def supports(self, op, graph) -> str | None:
        """None when this backend implements ``op`` (in ``graph``) exactly, else the reason (one line)."""
        e = self._entries.get(op.kind)
        if e is None:
            return f"not supported by {self.label} (supported: {', '.join(self.kinds())})"
        return e.supports(op, graph) if e.supports is not None else None

    def check(self, op, graph) -> None:
        """Raise ``self.error`` naming the op when ``supports`` gives a reason."""
        reason = self.supports(op, graph)
        if reason is not None:
            raise self.error(f"op {op.name!r} ({op.kind}): {reason}")

    def check_graph(self, graph) -> None:
        """``check`` every op of ``graph`` in order (the first refusal raises)."""
        for op in graph.ops:
            self.check(op, graph)

    def unsupported(self, graph) -> dict[str, str]:
        """Op name -> reason for every op of ``graph`` this backend refuses (empty: all supported)."""
        out = {}
        for op in graph.ops:
            reason = self.supports(op, graph)
            if reason is not None:
                out[op.name] = reason
        return out


def all_of(*checks: Supports | None) -> Supports:
    """A ``supports`` function giving the first reason of ``checks`` (None entries are skipped)."""
    fns = [c for c in checks if c is not None]

    def supports(op, graph) -> str | None:
        for c in fns:
            reason = c(op, graph)
            if reason is not None:
                return reason
        return None

    return supports


def no_input_offset(op, graph) -> str | None:
    """Refuse a Dense/Conv ``input_offset`` other than 0 (CMSIS-NN's ``-zero_point_in``)."""
    off = int(getattr(op, "input_offset", 0) or 0)
    if off != 0:
        return f"input_offset {off} is not implemented by this backend (only 0)"
    return None


def fixed_tensors(op, graph, names: Iterable[str] | None = None) -> str | None:
    """Refuse when an input or the output of ``op`` is not fixed point (``names``: tensors to check)."""
    for n in names if names is not None else [*op.inputs, op.output]:
        fmt = graph.tensor(n).fmt
        if getattr(fmt, "kind", None) != "fixed":
            return f"tensor {n!r} has format {fmt}; only fixed point is supported here"
    return None
