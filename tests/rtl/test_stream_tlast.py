"""``m_axis_tlast`` on the top's output stream: high on the last beat of every output vector (frame), checked
beat by beat by the exported cocotb bench that ``hwq verify rtl`` runs (``tlast_errors``); a wrong tlast is
caught."""

from __future__ import annotations

import re

import pytest

from hwq.rtl import emit
from hwq.sim.verify import verify

from .conftest import need_icarus
from .graphs_residual import BRANCHING
from .graphs_stream import GEOMETRIES


@pytest.mark.parametrize("case", ["streamed_out", "one_beat_out", "join_out"])
def test_tlast_marks_the_last_beat_of_each_vector(tmp_path, case):
    need_icarus()
    g = {
        "streamed_out": lambda: GEOMETRIES["stride2_pad1"](1),
        "one_beat_out": lambda: BRANCHING["downsample"](2),
        "join_out": lambda: BRANCHING["input_gate"](3),
    }[case]()
    emit(g, tmp_path, pipeline=1)
    rep = verify("rtl", tmp_path, vectors=40, seed=4, simulator="icarus")
    assert rep.mismatches == 0
    assert rep.extra["tlast_checked"] is True
    assert rep.extra["tlast_errors"] == 0


def test_a_wrong_tlast_is_caught(tmp_path, capsys):
    """Move tlast one beat early in the emitted top: the bench counts every wrong beat and ``hwq verify rtl``
    fails although every data beat is right."""
    need_icarus()
    from hwq.cli import main

    g = GEOMETRIES["stride2_pad1"](1)  # output (3, 4, 4): 16 beats per vector
    emit(g, tmp_path, pipeline=1)
    top = tmp_path / "hwq_stride2.v"
    early = r"assign m_axis_tlast = out_beat_reg == \1'd14;"
    bad, n = re.subn(r"assign m_axis_tlast = out_beat_reg == (\d+)'d15;", early, top.read_text())
    assert n == 1
    top.write_text(bad)
    rep = verify("rtl", tmp_path, vectors=5, seed=0, simulator="icarus")
    assert rep.mismatches == 0
    assert rep.extra["tlast_errors"] == 10  # beats 14 and 15 of each of the 5 vectors
    assert main(["verify", "rtl", str(tmp_path), "--vectors", "5"]) == 1
    assert "wrong m_axis_tlast" in capsys.readouterr().out
