"""What a layer of the Verilog emitter is: the op-kind roles of the registry and the ``LayerPlan`` record.

Shared by the layer planner (``rtl/plan.py``) and the branch planner (``rtl/branch.py``), which the layer
planner calls: keeping these here lets both import them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ops import REGISTRY

# op-kind roles, from the registry entries' info (rtl/ops.py)
MATRIX_OPS = REGISTRY.with_info("matrix")  # each starts a layer (at a cut point)
STREAM_HEADS = REGISTRY.with_info("stream_head")  # ops that can start a streamed layer
PER_PIXEL_OPS = REGISTRY.with_info("per_pixel")  # single-input, element/channel-wise
LAYOUT_OPS = REGISTRY.with_info("layout")  # pure layout (Flatten, Reshape)


@dataclass
class LayerPlan:
    """One emitted layer module: its ops (topological order) between one input and one output tensor."""

    name: str  # sanitised identifier
    ops: list = field(default_factory=list)
    input: str = ""  # IR tensor read by the layer's s_axis stream
    output: str = ""  # IR tensor written to the layer's m_axis stream
    style: str = "parallel"
    module: str = ""
    levels: int = 1
    adders: int = 0
    inputs: list = field(default_factory=list)  # every input stream, in s_axis_tdata order (pixel layers)
    ports: object = None  # layer.LayerPorts of the layer module (streamed: one pixel in, one pixel out)
    window: object = None  # streamed layers: stream.Window geometry
    in_range: tuple = ()  # (lo, hi) raw range the layer's datapath is built for (emit)
    narrowed: bool = False  # in_range is narrower than the input format (proven upstream)
