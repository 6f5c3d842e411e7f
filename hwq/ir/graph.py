"""The hardware graph: tensors with exact formats, ops with integer parameters.

Conventions (every emitter and pass relies on them):

- A tensor's values are held as raw integers in units of its format's LSB: real = raw * 2**-frac_bits.
  Shapes exclude the batch dimension. Layouts: dense ``(N,)``; 1-D conv ``(C, L)``; 2-D conv
  ``(C, H, W)`` (channels first, as torch).
- Ops are listed in topological order. Each op names its input tensors and its single output tensor;
  the output tensor's format is the op's result format (the one cast at the end of the op).
- Weights are integer ndarrays (int64) in units of the op's weight format's LSB.
- The IR imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from hwq.formats import parse


class GraphError(ValueError):
    """An inconsistent graph; the message names the op or tensor."""


@dataclass
class Tensor:
    """A named tensor: shape without batch, and its exact number format."""

    name: str
    shape: tuple[int, ...]
    fmt: object  # a format object from hwq.formats

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        self.fmt = parse(self.fmt) if isinstance(self.fmt, str) else self.fmt

    @property
    def size(self) -> int:
        """Number of elements (product of the shape)."""
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass
class Op:
    """Base of every IR op. Subclasses are dataclasses registered in ``OPS`` by their ``kind``."""

    kind: ClassVar[str] = "op"
    name: str
    inputs: list[str]
    output: str

    def check(self, graph: Graph) -> None:
        """Raise GraphError naming this op if its parameters do not fit its tensors."""

    def params(self) -> dict[str, np.ndarray]:
        """Integer parameter arrays of this op (for serialisation and cost models)."""
        return {}


#: kind -> Op subclass; filled by ``register``.
OPS: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator adding an op class to ``OPS`` under its ``kind``."""
    if cls.kind in OPS and OPS[cls.kind] is not cls:
        raise GraphError(f"op kind {cls.kind!r} registered twice")
    OPS[cls.kind] = cls
    return cls


@dataclass
class Graph:
    """A hardware graph: input and output tensor names, all tensors, ops in topological order."""

    name: str
    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, Tensor] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def tensor(self, name: str) -> Tensor:
        """The tensor called ``name``; GraphError if there is none."""
        try:
            return self.tensors[name]
        except KeyError:
            raise GraphError(f"graph {self.name!r}: no tensor named {name!r}") from None

    def add_tensor(self, name: str, shape, fmt) -> Tensor:
        """Create and add a tensor; GraphError if the name is taken."""
        if name in self.tensors:
            raise GraphError(f"graph {self.name!r}: tensor {name!r} defined twice")
        t = Tensor(name, tuple(shape), fmt)
        self.tensors[name] = t
        return t

    def add_op(self, op: Op) -> Op:
        """Append an op (ops are kept in topological order)."""
        self.ops.append(op)
        return op

    def op(self, name: str) -> Op:
        """The op called ``name``; GraphError if there is none."""
        for o in self.ops:
            if o.name == name:
                return o
        raise GraphError(f"graph {self.name!r}: no op named {name!r}")

    def producer(self, tensor_name: str) -> Op | None:
        """The op writing ``tensor_name`` (None for graph inputs)."""
        for o in self.ops:
            if o.output == tensor_name:
                return o
        return None

    def consumers(self, tensor_name: str) -> list[Op]:
        """Ops reading ``tensor_name``, in graph order."""
        return [o for o in self.ops if tensor_name in o.inputs]

    def validate(self) -> None:
        """Check names, order and every op's parameters; raise GraphError naming the culprit."""
        defined = set(self.inputs)
        for n in self.inputs:
            self.tensor(n)
        seen_ops: set[str] = set()
        for o in self.ops:
            if o.name in seen_ops:
                raise GraphError(f"op {o.name!r} ({o.kind}): op name used twice")
            seen_ops.add(o.name)
            for i in o.inputs:
                if i not in self.tensors:
                    raise GraphError(f"op {o.name!r} ({o.kind}): input tensor {i!r} does not exist")
                if i not in defined:
                    raise GraphError(f"op {o.name!r} ({o.kind}): input tensor {i!r} is used before it is computed")
            if o.output not in self.tensors:
                raise GraphError(f"op {o.name!r} ({o.kind}): output tensor {o.output!r} does not exist")
            if o.output in defined:
                raise GraphError(f"op {o.name!r} ({o.kind}): output tensor {o.output!r} is written twice")
            defined.add(o.output)
            o.check(self)
        for n in self.outputs:
            if n not in defined:
                raise GraphError(f"graph {self.name!r}: output tensor {n!r} is never computed")
