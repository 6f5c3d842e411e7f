"""The fast FPGA estimate of a whole graph: every layer's approximate features in the emitter's layer plan.

Kept apart from ``fast`` (the per-layer approximation) because a graph the emitter builds as a layer DAG
goes to ``rtl_dag.plan_dag(fast=True)``, which itself prices its conv / pool / dense layers with ``fast``;
this module imports both and neither imports it back (no import cycle).
"""

from __future__ import annotations

from .fast import layer_features_fast, stream_link_bits
from .rtl_model import LayerFeatures


def plan_fast(graph, *, pipeline: int = 1, io: str = "stream", adders: str | None = None) -> list[LayerFeatures]:
    """Approximate features of every layer (the emitter's layer plan, no matrix datapath built). A graph the
    emitter builds as a layer DAG goes to ``rtl_dag.plan_dag(fast=True)``: its forks, skid buffers, FIFOs,
    pixel layers (their small datapaths built, in ``adders`` style) and ``dag_timing`` latency as the exact
    model counts them, each conv / pool / dense layer from ``layer_features_fast``. ``adders`` (None: the
    emitter's default) does not change the per-layer approximation (its constants were fitted on the
    default style)."""
    from hwq.rtl.plan import check_graph, plan_layers
    from hwq.rtl.stream import frame_of

    from .rtl_model import _emitted_as_dag, emitter_default_adders

    check_graph(graph)
    if io == "stream" and _emitted_as_dag(graph):  # forks, FIFOs and joins as the emitter wires them
        from .rtl_dag import plan_dag

        dag = plan_dag(graph, pipeline, adders or emitter_default_adders(), fast=True)
        if dag is not None:
            return dag
    layers = plan_layers(graph, io)
    out = []
    for k, lay in enumerate(layers):
        f = layer_features_fast(graph, lay.ops, lay.name, lay.style, pipeline)
        xt = graph.tensor(lay.input)
        if k > 0:
            before = layers[k - 1]
            streamed = before.style == "stream" or lay.style == "stream"
            f.skid_bits = frame_of(xt.shape).channels * xt.fmt.width if streamed else xt.size * xt.fmt.width
        stream_link_bits(graph, layers, k, f)
        out.append(f)
    if layers[-1].style == "stream":  # the top's m_axis_tlast beat counter
        beats = frame_of(graph.tensor(layers[-1].output).shape).beats
        out[-1].tlast_bits = (beats - 1).bit_length() if beats > 1 else 0
    return out
