"""Pass ``remove_dead_ops``: drop ops whose results never reach a graph output, and unused tensors.

An op is live when its output tensor is a graph output or an input of a live op. Graph inputs are
kept even when unused (they are the graph's interface). Results of the live ops are unchanged.
"""

from __future__ import annotations

from ..graph import Graph
from ._common import PassError, copy_graph


def remove_dead_ops(graph: Graph) -> Graph:
    """A copy of ``graph`` without dead ops and without tensors that no remaining op or interface uses."""
    g = copy_graph(graph)
    for n in g.outputs:
        if n not in g.tensors:
            raise PassError(f"remove_dead_ops: graph output {n!r} is not a tensor of graph {g.name!r}")
    needed = set(g.outputs)
    live = []
    for op in reversed(g.ops):
        if op.output in needed:
            live.append(op)
            needed.update(op.inputs)
    g.ops = list(reversed(live))
    used = set(g.inputs) | set(g.outputs)
    for op in g.ops:
        used.update(op.inputs)
        used.add(op.output)
    g.tensors = {k: t for k, t in g.tensors.items() if k in used}
    return g
