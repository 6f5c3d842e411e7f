"""Fixtures of the MCU runtime/target tests: tool checks that skip, or fail under HWQ_REQUIRE_TOOLS=1."""

from __future__ import annotations

import os
import shutil

import pytest


def need_tool(name: str) -> str:
    """Path of tool ``name``; skips the test when it is absent (fails naming it if HWQ_REQUIRE_TOOLS=1)."""
    try:
        from tests.tools import require_tool  # shared helper, when present
    except ImportError:
        require_tool = None
    if require_tool is not None:
        require_tool(name)
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (needed by this MCU test)"
        if os.environ.get("HWQ_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
