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
