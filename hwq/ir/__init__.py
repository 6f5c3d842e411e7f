"""The hardware IR: graph, ops, passes, (de)serialisation and the golden integer interpreter.

Imports no torch; ``hwq.ir.lower`` (which needs torch) is imported lazily.
"""

from .graph import OPS, Graph, GraphError, Op, Tensor, register
from .interpreter import RunResult, run
from .ops import (
    LUT,
    Add,
    AvgPool,
    BatchNorm,
    Clip,
    Concat,
    Conv1d,
    Conv2d,
    Dense,
    Flatten,
    GlobalAvgPool,
    MaxPool,
    Multiply,
    ReLU,
    Requantize,
    Reshape,
)

__all__ = [
    "LUT",
    "OPS",
    "Add",
    "AvgPool",
    "BatchNorm",
    "Clip",
    "Concat",
    "Conv1d",
    "Conv2d",
    "Dense",
    "Flatten",
    "GlobalAvgPool",
    "Graph",
    "GraphError",
    "MaxPool",
    "Multiply",
    "Op",
    "ReLU",
    "Requantize",
    "Reshape",
    "RunResult",
    "Tensor",
    "register",
    "run",
]


def __getattr__(name):
    if name == "lower":
        from .lower import lower

        return lower
    raise AttributeError(name)
