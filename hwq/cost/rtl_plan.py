"""Entry point of the FPGA cost model for hwq's Verilog: the features of what ``hwq.rtl.emit`` builds.

``emit`` writes one of two tops. A chain of layer modules (every parallel design, and streamed designs in
which no tensor is read twice) is priced by ``rtl_model.plan_chain``; a layer DAG (streamed residual Add,
Concat or Mul of pixel streams: forks, FIFOs and joins, ``rtl/branch.py``) by ``rtl_dag.plan_dag``. This
module only chooses between them, so that neither planner imports the other's caller.
"""

from __future__ import annotations

from hwq.ir.graph import Graph

from .rtl_dag import plan_dag
from .rtl_model import LayerFeatures, _emitted_as_dag, check_plan_options, emitter_default_adders, plan_chain


def plan_rtl(
    graph: Graph, *, pipeline: int = 1, io: str = "stream", adders: str | None = None, cache: bool = True
) -> list[LayerFeatures]:
    """``LayerFeatures`` (bits, counts, cycles) of every layer module ``hwq.rtl.emit(graph, ..., pipeline=,
    io=, adders=)`` would write, in the emitter's order: ``rtl_dag.plan_dag`` when the emitter builds a
    layer DAG, else ``rtl_model.plan_chain`` (``cache``: its per-layer cache; ``adders`` None: the
    emitter's default style). Raises ``hwq.rtl.RtlError`` naming the option, op or format when the graph
    cannot be emitted."""
    check_plan_options(graph, pipeline, io)
    if io == "stream" and _emitted_as_dag(graph):  # forks, FIFOs, joins as the emitter wires them
        dag = plan_dag(graph, pipeline, adders or emitter_default_adders())
        if dag is not None:
            return dag
    return plan_chain(graph, pipeline=pipeline, io=io, adders=adders, cache=cache)
