"""Fixtures of the MCU runtime/target tests: tool checks that skip, or fail under HWQ_REQUIRE_TOOLS=1."""

from __future__ import annotations

from ..tools import require_tool


def need_tool(name: str) -> str:
    """Path of tool ``name``; skips the test when it is absent (fails naming it if HWQ_REQUIRE_TOOLS=1)."""
    return require_tool(name, "needed by this MCU test")
