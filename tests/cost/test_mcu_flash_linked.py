"""MCU flash estimate against linked builds: ``hwq.cost.mcu`` flash within 1 % of ``arm-none-eabi-size``.

Models the flash calibration never saw (``hwq.cost.mcu_calibrate`` fits on seeds 1000-1089 of
``random_cmsis_graph`` and int16 graphs; these use seeds 7000+), each emitted and linked for every CPU
with a ``[flash]`` table, from the model's run entry with ``--gc-sections`` (the model as it lands in a
firmware: weights, argument objects, run function, the kernels it calls), exactly as the calibration
measures it. The estimate is computed from the IR graph alone; the size is read from the ELF.
"""

from __future__ import annotations

import pytest

from hwq.cost import mcu
from hwq.cost.mcu_calibrate import link_model
from hwq.cost.targets import load_target
from hwq.mcu import emit
from tests.mcu.graphs_c import random_cmsis_graph, s16_graph

from ..tools import require_tool

CASES = [(7000 + k, 1 + k % 5, k % 2 == 0) for k in range(8)]


def _graphs():
    out = [random_cmsis_graph(seed, n_layers=n, dense=dense) for seed, n, dense in CASES]
    return out + [s16_graph(7100, conv=True, name="s16_linked")]


@pytest.mark.slow
def test_flash_estimate_within_1pct_of_the_linked_model(tmp_path):
    require_tool("arm-none-eabi-gcc", "MCU flash of linked models")
    from hwq.sim.mcurun import ARCH_FLAGS

    failures, checked = [], 0
    for g in _graphs():
        folder = tmp_path / g.name
        emit(g, str(folder))
        for cpu in ARCH_FLAGS:
            if not load_target(cpu).get("flash"):
                continue
            linked = link_model((str(folder), cpu))
            est = mcu(g, cpu)["total"]["flash_bytes"]
            checked += 1
            if abs(est - linked) > 0.01 * linked:
                failures.append(f"{g.name} on {cpu}: estimate {est} bytes, linked {linked} bytes")
    assert checked >= 2 * len(CASES), "fewer CPUs with a [flash] table than expected"
    assert not failures, "; ".join(failures)
