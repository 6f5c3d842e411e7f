"""The hardware IR: graph, ops, passes, (de)serialisation and the golden integer interpreter.

Imports no torch; ``hwq.ir.lower`` (which needs torch) is imported lazily.
"""

from .graph import OPS, Graph, GraphError, Op, Tensor, register
from .interpreter import RunResult, run
from .ops import Add, Conv1d, Conv2d, Dense, Flatten, Multiply, ReLU, Reshape

__all__ = [
    "OPS",
    "Add",
    "Conv1d",
    "Conv2d",
    "Dense",
    "Flatten",
    "Graph",
    "GraphError",
    "Multiply",
    "Op",
    "ReLU",
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
