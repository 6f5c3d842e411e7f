"""The code base stays ruff-clean (lint and format), as the style guide asks."""

import subprocess
from pathlib import Path

import pytest

from ..tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff_clean(args):
    ruff = require_tool("ruff", "the style check")
    out = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
