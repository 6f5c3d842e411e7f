"""The hardware IR: graph, ops, passes, (de)serialisation and the golden integer interpreter.

Imports no torch; ``hwq.ir.lower`` (which needs torch) is imported lazily.
"""

from .graph import OPS, Graph, GraphError, Op, Tensor, register
from .interpreter import RunResult, run
from .ops import Dense, ReLU

__all__ = ["OPS", "Dense", "Graph", "GraphError", "Op", "ReLU", "RunResult", "Tensor", "register", "run"]


def __getattr__(name):
    if name == "lower":
        from .lower import lower

        return lower
    raise AttributeError(name)
