"""Shared fixtures of the Verilog tests: tool detection with explicit skip reasons."""

from __future__ import annotations

import shutil

import pytest


def need_icarus() -> None:
    if shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog (iverilog) is not installed (Debian: apt-get install iverilog)")


def need_yosys() -> None:
    if shutil.which("yosys") is None:
        pytest.skip("yosys is not installed (Debian: apt-get install yosys)")


def need_verilator() -> None:
    try:
        from hwq.rtl.tools import verilator_bin

        verilator_bin()
    except Exception as e:  # ToolMissing
        pytest.skip(f"Verilator unavailable: {e}")


def need_pyslang():
    return pytest.importorskip("pyslang", reason="pyslang is not installed (pip install pyslang)")


def cosim(graph, out_dir, vectors: int, pipeline: int = 1, seed: int = 0, io: str = "stream", simulator="icarus"):
    """Emit ``graph`` and co-simulate ``vectors`` random vectors under gaps and back-pressure; assert 0 mismatches
    against ``hwq.ir.run`` and an empty scoreboard. Returns the VerifyReport."""
    from hwq.rtl import emit
    from hwq.sim.verify import verify

    emit(graph, out_dir, pipeline=pipeline, io=io)
    rep = verify("rtl", out_dir, vectors=vectors, seed=seed, simulator=simulator)
    assert rep.vectors == vectors
    assert rep.mismatches == 0, "\n".join(rep.detail_lines())
    assert rep.extra["scoreboard_errors"] == 0
    return rep
