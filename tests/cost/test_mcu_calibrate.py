"""``hwq cost calibrate --target cortex-m*`` (``hwq.cost.mcu_calibrate``): target-file tables, errors, a live run."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hwq.cost.mcu_calibrate import fit_instructions, holdout_rows, write_flash, write_instructions
from hwq.cost.targets import load_target, replace_tables, target_path

from ..tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "mcu_kernel_calib.json"

TEXT = """[target]
name = "t"  # a comment
kind = "mcu"

[instructions]
# notes
calibrated = false
fc_s8_mac = 1.5

[instructions.conv_s8]
call = 1.0

[flash]
run_base = 3.0
[flash.kernels."arm_x"]
"arm_x" = 10
"""


def _hwq(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hwq.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_replace_tables_replaces_a_table_and_its_subtables_only():
    out = replace_tables(TEXT, "instructions", "[instructions]\ncalibrated = true\n[instructions.fc_s8]\ncall = 2.0\n")
    d = tomllib.loads(out)
    assert d["instructions"] == {"calibrated": True, "fc_s8": {"call": 2.0}}  # conv_s8 and the old keys are gone
    assert d["target"] == {"name": "t", "kind": "mcu"} and d["flash"] == tomllib.loads(TEXT)["flash"]
    assert "# a comment" in out and out.index("[instructions]") < out.index("[flash]")  # kept in place
    added = tomllib.loads(replace_tables(TEXT, "cycles", "[cycles]\nmac = 1\n"))
    assert added["cycles"] == {"mac": 1} and added["instructions"] == tomllib.loads(TEXT)["instructions"]
    assert replace_tables(TEXT, "flash", TEXT[TEXT.index("[flash]") :]) == TEXT  # same block: same text


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m55"])
def test_packaged_tables_are_what_the_writers_write(cpu, tmp_path):
    """Re-fitting the stored QEMU data and writing it into a copy of the packaged file gives the packaged
    [instructions] tables (only the date may differ) and leaves [flash] and the other tables alone."""
    data = json.loads(DATA.read_text())
    path = tmp_path / f"{cpu}.toml"
    path.write_text(target_path(cpu).read_text())
    fits, n_fit = fit_instructions(data, cpu)
    write_instructions(path, fits, n_fit, data)
    old, new = load_target(cpu), load_target(path)
    assert {k: v for k, v in new.items() if k != "instructions"} == {
        k: v for k, v in old.items() if k != "instructions"
    }
    drop = ("calibration_date",)
    assert {k: v for k, v in new["instructions"].items() if k not in drop} == {
        k: v for k, v in old["instructions"].items() if k not in drop
    }
    write_flash(path, {"run_base": 1.0, "run_call": {"f": 2.0}, "helpers": {}, "kernels": {"f": {"f": 8}},
                       "kernels_single_rounding": {"f": {"f": 9}}})  # fmt: skip
    again = load_target(path)
    assert again["instructions"] == new["instructions"] and again["flash"]["run_base"] == 1.0
    assert again["flash"]["kernels_single_rounding"] == {"f": {"f": 9}}


def test_holdout_rows_summarise_every_group():
    rows = holdout_rows(json.loads(DATA.read_text()), "cortex-m7", load_target("cortex-m7")["instructions"])
    assert rows[-1]["group"] == "all" and rows[-1]["shapes"] >= 100
    assert sum(r["shapes"] for r in rows[:-1]) == rows[-1]["shapes"]
    assert rows[-1]["max_pct"] < 3.0 and rows[-1]["median_pct"] < 1.0


def test_calibrate_errors_name_the_problem(tmp_path):
    other = tmp_path / "cortex-m33.toml"
    other.write_text('[target]\nname = "cortex-m33"\nkind = "mcu"\n\n[instructions]\nfc_mac = 1.0\n')
    r = _hwq("cost", "calibrate", "--target", str(other))
    assert r.returncode == 2 and "no Cortex-M build for CPU 'cortex-m33'" in r.stderr
    assert "cpu = one of them" in r.stderr
    r = _hwq("cost", "calibrate", "--target", "cortex-m7", "--cached-only")
    assert r.returncode == 2 and "--cached-only applies to FPGA targets" in r.stderr
    r = _hwq("cost", "calibrate", "--target", "xc7", "--models", "12")
    assert r.returncode == 2 and "--models applies to MCU targets" in r.stderr
    mine = tmp_path / "mine.toml"
    mine.write_text("keep me\n")
    r = _hwq("cost", "calibrate", "--target", "cortex-m7", "--target-file", str(mine))
    assert r.returncode == 2 and "exists; use --force" in r.stderr
    assert mine.read_text() == "keep me\n"
    r = _hwq("cost", "calibrate", "--target", "cortex-m7", "--models", "3", "--target-file", str(tmp_path / "x.toml"))
    assert r.returncode == 2 and "at least 6 models" in r.stderr and not (tmp_path / "x.toml").exists()


@pytest.mark.slow
def test_calibrate_cortex_m7_end_to_end(tmp_path):
    """The whole command on QEMU mps2-an500: instruction formulas within 3 % on >= 100 held-out calls, the
    flash table from linked models, both written into a new target file with today's date; the packaged file
    is untouched; the kernels' linked symbols equal the packaged table's when the compiler is the same."""
    for tool in ("make", "arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm"):
        require_tool(tool, "hwq cost calibrate of a Cortex-M target")
    packaged = target_path("cortex-m7").read_text()
    out, rep, png = tmp_path / "m7.toml", tmp_path / "rep.json", tmp_path / "m7.png"
    r = _hwq("cost", "calibrate", "--target", "cortex-m7", "--target-file", str(out), "--models", "30",
             "--report", str(rep), "--plot", str(png))  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert target_path("cortex-m7").read_text() == packaged
    report = json.loads(rep.read_text())
    hold = report["instructions"]["holdout"][-1]
    assert hold["group"] == "all" and hold["shapes"] >= 100 and hold["max_pct"] < 3.0, hold
    new, old = load_target(out), load_target("cortex-m7")
    assert new["instructions"]["calibrated"] is True
    assert new["instructions"]["calibration_date"] == datetime.date.today().isoformat()
    assert new["target"] == old["target"] and new["memory"] == old["memory"]
    fl = report["flash"]
    assert fl["held_out_models"] >= 8 and abs(fl["min_error_pct"]) < 3 and abs(fl["max_error_pct"]) < 3, fl
    if new["instructions"]["calibration_compiler"] == old["instructions"]["calibration_compiler"]:
        assert new["flash"]["kernels"] == old["flash"]["kernels"]
        assert new["flash"]["kernels_single_rounding"] == old["flash"]["kernels_single_rounding"]
        assert new["flash"]["helpers"] == old["flash"]["helpers"]
    assert png.stat().st_size > 10_000 and "held out" in r.stdout and "flash of patch programs" in r.stdout


@pytest.mark.slow
def test_calibrate_a_user_target_file_without_qemu(tmp_path):
    """A user's own target file (``[target] cpu`` names the build): ``calibrate_mcu`` without QEMU fits the
    flash table only, appends it to the file (the rest kept), and ``hwq.cost.mcu`` prices with it."""
    from hwq.cost import mcu
    from hwq.cost.mcu_calibrate import calibrate_mcu, tool_versions
    from hwq.mcu.random_models import conv_graph

    for tool in ("make", "arm-none-eabi-gcc", "arm-none-eabi-nm"):
        require_tool(tool, "the flash calibration of a Cortex-M target")
    user = tmp_path / "my-m4.toml"
    user.write_text('[target]\nname = "my-m4"\nkind = "mcu"\ncpu = "cortex-m4"\ndescription = "my board"\n')
    rep = calibrate_mcu(str(user), models=12, instructions=False, log=lambda *a: None)
    data = load_target(user)
    assert "skipped" in rep["instructions"] and "instructions" not in data
    assert data["target"] == {"name": "my-m4", "kind": "mcu", "cpu": "cortex-m4", "description": "my board"}
    assert rep["flash"]["held_out_models"] >= 2 and data["flash"]["run_call"]
    packaged = load_target("cortex-m4")
    if tool_versions()["compiler"] == packaged["instructions"]["calibration_compiler"]:
        assert data["flash"]["kernels"] == packaged["flash"]["kernels"]  # the same kernels, linked alone
    g = conv_graph()
    assert mcu(g, str(user))["total"]["flash_weight_bytes"] == mcu(g, "cortex-m4")["total"]["flash_weight_bytes"]
