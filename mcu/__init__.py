"""hwq.mcu: the microcontroller backend. IR graph -> C99 calling CMSIS-NN, with a static memory plan.

- ``emit(graph, out_dir, *, command) -> list[Path]``: the generated folder (``mcu/emit.py``);
- ``supports(op, graph) -> None | str``: whether an op maps onto a CMSIS-NN call, else the reason
  (``mcu/kernels.py``, the registry ``REGISTRY`` (hwq.backend.OpRegistry) keyed by IR op kind);
- ``plan_memory(graph) -> MemoryPlan``: arena, peak SRAM and flash in bytes, no files (``mcu/plan.py``);
- ``lower(graph) -> Program``: the ordered calls, buffers and layouts (``mcu/lower.py``).
"""

from .emit import emit, generate
from .kernels import KERNELS, REGISTRY, McuEmitError, supports
from .lower import lower
from .plan import MemoryPlan, plan_memory

__all__ = ["KERNELS", "REGISTRY", "McuEmitError", "MemoryPlan", "emit", "generate", "lower", "plan_memory", "supports"]
