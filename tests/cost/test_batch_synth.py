"""Batched calibration synthesis (several designs in one yosys process) against one run per design."""

from __future__ import annotations

import pytest

from hwq.cost.calibrate import _batch_synth
from hwq.cost.targets import load_target
from hwq.rtl import emit
from hwq.rtl.tools import synth_report
from tests.tools import require_tool

from .graphs import random_dense


@pytest.mark.slow
@pytest.mark.parametrize("target", ["xc7", "ice40"])
def test_batch_counts_equal_single_runs(tmp_path, target):
    require_tool("yosys", "calibration synthesis")
    script = load_target(target)["synth"]["script"]
    folders = []
    for k, (shape, pipeline) in enumerate((((2, 3), 1), ((3, 4), 0))):
        d = tmp_path / f"d{k}"
        emit(random_dense(*shape, k + 1, name=f"g{k}"), d, pipeline=pipeline, tb_vectors=0)
        folders.append(str(d))
    batch = _batch_synth(folders, script)
    for f, b in zip(folders, batch):
        one = synth_report(f, script=script)
        assert b["FF"] == one["FF"]
        lut = {c: n for c, n in one["cells"].items() if "LUT" in c}
        blut = {c: n for c, n in b["cells"].items() if "LUT" in c}
        assert abs(sum(blut.values()) - sum(lut.values())) <= max(2, 0.01 * sum(lut.values()))
