"""tests/tools.py: a missing tool skips with its name, or fails naming it under HWQ_REQUIRE_TOOLS=1."""

from __future__ import annotations

import pytest

from ..tools import require_module, require_tool


def test_missing_tool_skips_naming_it(monkeypatch):
    monkeypatch.delenv("HWQ_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"hwq-no-such-tool is not installed \(for this test\)"):
        require_tool("hwq-no-such-tool", "for this test")


def test_missing_tool_fails_when_tools_are_required(monkeypatch):
    monkeypatch.setenv("HWQ_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match=r"iverilog is not installed.*apt-get install iverilog"):
        monkeypatch.setenv("PATH", "/nonexistent")
        require_tool("iverilog", "co-simulation")


def test_missing_module_fails_when_tools_are_required(monkeypatch):
    monkeypatch.setenv("HWQ_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match=r"hwq_no_such_module is not installed.*hwq\[interop\]"):
        require_module("hwq_no_such_module", "importer", extra="interop")


def test_present_tool_gives_its_path(monkeypatch):
    monkeypatch.setenv("HWQ_REQUIRE_TOOLS", "1")
    assert require_tool("sh").endswith("sh")
