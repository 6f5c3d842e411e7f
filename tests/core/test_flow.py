"""End to end: ``hwq flow`` trains (or explores), emits, verifies every target and writes the stable summary keys."""

import json

import pytest

from hwq.cli import main

from ..tools import require_tool

pytestmark = pytest.mark.slow


def test_flow_on_builtin_example(tmp_path, capsys):
    require_tool("g++", "the HLS C-simulation")
    require_tool("gcc", "the MCU host build")
    require_tool("iverilog", "the RTL co-simulation")
    require_tool("qemu-system-arm", "the MCU build on the chosen Cortex-M")
    require_tool("arm-none-eabi-gcc", "the MCU build on the chosen Cortex-M")
    out = tmp_path / "flow"
    targets = "hls,rtl,mcu"
    argv = ["flow", "--out", str(out), "--no-explore", "--no-synth", "--targets", targets, "--mcu-target", "cortex-m7"]
    rc = main([*argv, "--vectors", "300", "--rtl-vectors", "60", "--mcu-vectors", "300", "--qemu-vectors", "5"])
    text = capsys.readouterr().out
    assert rc == 0, text
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= {"accuracy", "formats", "pareto", "cost", "verify"}
    assert summary["accuracy"]["quantized"] > 80.0  # percent, digits test split
    for t in targets.split(","):
        assert summary["verify"][t]["vectors"] > 0
        assert summary["verify"][t]["mismatches"] == 0
        assert f"verify {t}: {summary['verify'][t]['vectors']} vectors, 0 mismatches" in text
        assert json.loads((out / t / "verify.json").read_text())["mismatches"] == 0
    # QEMU ran the MCU build on the CPU the cost model priced (mps2-an500): estimate and measurement side by side
    assert set(summary["verify"]["mcu"]["also"]) == {"cortex-m7"}
    mcu = summary["cost"]["mcu"]
    assert mcu["target"] == "cortex-m7" and mcu["measured"]["cpu"] == "cortex-m7"
    est, got = mcu["estimate"]["instructions"], mcu["measured"]["instructions"]
    assert abs(est - got) <= 0.03 * got, (est, got)
    assert abs(mcu["estimate"]["flash_bytes"] - mcu["measured"]["flash_bytes"]) <= 0.01 * mcu["measured"]["flash_bytes"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "bit-exact" in html
    # the same folder again is refused without --force, and nothing in it is touched
    before = (out / "summary.json").read_bytes()
    assert main(["flow", "--out", str(out)]) == 2
    assert (out / "summary.json").read_bytes() == before
