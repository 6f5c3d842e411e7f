"""Patch-based inference of a CNN's leading stage on a microcontroller (MCUNetV2-style).

- ``hwq.ir.patchwise``: the schedule (receptive field with halo, per-patch padding, carried halo rows and
  columns)
  and its reference execution (equal to ``hwq.ir.run`` integer for integer);
- ``mcu.patch.plan``: the schedule on the lowered CMSIS-NN calls, the arena plan of the patch loop,
  MACs and estimated instructions;
- ``mcu.patch.search``: enumeration of (split, grid, halo) plans and the choice under an SRAM budget;
- ``mcu.patch.cgen``: printing of the nested patch loops;
- ``mcu.patch.models``: MobileNetV2-style CMSIS-NN graphs for tests and benchmarks (``with_patch_quant``: a
  ``patch_quant`` on a tensor; on the split output with the patch grid, each patch is packed inside the loop).

``hwq emit mcu -O patches=auto|none|RxC -O split=auto|OP -O sram=BYTES -O halo=recompute|rows|cache|auto``.
"""

from hwq.ir.patchwise import PatchError

from .plan import PatchProgram, mcu_split_points, patch_program
from .search import Candidate, choose_plan, enumerate_plans

__all__ = [
    "Candidate",
    "PatchError",
    "PatchProgram",
    "choose_plan",
    "enumerate_plans",
    "mcu_split_points",
    "patch_program",
]
