"""Host build and run of a model through mcu/target (harness, rules.mk) and sim/mcurun, against hwq.ir.run."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from hwq.sim.mcurun import RULES, McuRunError, run_mcu
from hwq.sim.verify import verify
from tests.mcu import handmodel
from tests.mcu.conftest import need_tool


@pytest.fixture(autouse=True)
def _tools():
    need_tool("gcc")
    need_tool("make")


@pytest.mark.parametrize("single", [False, True], ids=["double", "single"])
def test_host_run_equals_the_interpreter(tmp_path, single):
    out = handmodel.write(tmp_path / "m", handmodel.graph(single))
    report = verify("mcu", out, vectors=2000, target="host", cache_dir=tmp_path / "cache")
    assert (report.vectors, report.mismatches) == (2000, 0)
    assert report.extra["single_rounding"] is single and report.extra["arena_bytes"] == 320
    assert json.loads((out / "verify.json").read_text())["mismatches"] == 0


def test_the_rounding_build_matters(tmp_path):
    # the single-rounding model built as double rounding: some vectors differ, so the flag is really used
    g = handmodel.graph(True)
    out = handmodel.write(tmp_path / "m", g)
    manifest = json.loads((out / "mcu.json").read_text())
    manifest["single_rounding"] = False
    (out / "mcu.json").write_text(json.dumps(manifest))
    report = verify("mcu", out, vectors=2000, target="host", cache_dir=tmp_path / "cache")
    assert report.mismatches > 0


def test_a_wrong_weight_is_found(tmp_path):
    out = handmodel.write(tmp_path / "m", handmodel.graph(False))
    src = (out / "hwq_tiny.c").read_text()
    head, _, tail = src.partition("static const int8_t w1[] = {")
    first, _, rest = tail.partition(",")
    (out / "hwq_tiny.c").write_text(f"{head}static const int8_t w1[] = {{{int(first) ^ 1},{rest}")
    report = verify("mcu", out, vectors=300, target="host", cache_dir=tmp_path / "cache")
    assert report.mismatches > 0 and report.first[0].output == "y"


def test_storage_offset_and_perm_round_trip(tmp_path):
    # an input stored with offset -128 (uint8-like raws) and the runner's inverse mapping of outputs
    from hwq.sim.mcurun import read_vectors, write_vectors

    manifest = {
        "inputs": [{"name": "a", "count": 6, "ctype": "int8_t", "storage_offset": -128, "perm": [1, 2, 0]}],
        "outputs": [{"name": "a", "count": 6, "ctype": "int8_t", "storage_offset": -128, "perm": [1, 2, 0]}],
    }

    class G:
        outputs = ["a"]

        @staticmethod
        def tensor(name):
            return type("T", (), {"shape": (2, 1, 3)})

    raw = np.arange(5 * 6).reshape(5, 2, 1, 3) + 100
    write_vectors(tmp_path / "v.bin", G, manifest, {"a": raw})
    stored = np.fromfile(tmp_path / "v.bin", dtype=np.int8).reshape(5, 1, 3, 2)
    assert np.array_equal(stored, raw.transpose(0, 2, 3, 1) - 128)
    assert np.array_equal(read_vectors(tmp_path / "v.bin", G, manifest, 5)[0], raw)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(McuRunError, match=r"mcu\.json: missing"):
        run_mcu(tmp_path, None, {})
    out = handmodel.write(tmp_path / "m", handmodel.graph(False))
    (out / "hwq_model.h").unlink()
    with pytest.raises(McuRunError, match=r"hwq_model\.h: missing"):
        run_mcu(out, handmodel.graph(False), {"x": np.zeros((1, 1, 8, 8), np.int64)}, cache_dir=tmp_path / "c")


def test_rules_mk_rounding_flag_is_explicit(tmp_path):
    base = ["make", "-n", "-f", str(RULES), "MODEL_SRCS=hwq_tiny.c", f"BUILD_DIR={tmp_path / 'b'}"]
    handmodel.write(tmp_path, handmodel.graph(False))
    missing = subprocess.run(base, capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode != 0 and "CMSIS_NN_USE_SINGLE_ROUNDING=0 or 1" in missing.stderr
    one = subprocess.run([*base, "CMSIS_NN_USE_SINGLE_ROUNDING=1"], capture_output=True, text=True, cwd=tmp_path)
    zero = subprocess.run([*base, "CMSIS_NN_USE_SINGLE_ROUNDING=0"], capture_output=True, text=True, cwd=tmp_path)
    # the library tests the macro with #ifdef: 0 must leave it undefined, never -D...=0
    assert "-DCMSIS_NN_USE_SINGLE_ROUNDING " in one.stdout and "-DCMSIS_NN_USE_SINGLE_ROUNDING" not in zero.stdout
    assert "-UCMSIS_NN_USE_SINGLE_ROUNDING" in zero.stdout


def test_runtime_is_pedantic_clean_on_arm(tmp_path):
    gcc = need_tool("arm-none-eabi-gcc")
    from hwq.sim.mcurun import RUNTIME_DIR

    for cpu in ("cortex-m4", "cortex-m55"):
        for flag in ([], ["-DCMSIS_NN_USE_SINGLE_ROUNDING"]):
            for src in sorted((RUNTIME_DIR / "Source").glob("*.c")):
                cmd = [
                    gcc,
                    f"-mcpu={cpu}",
                    "-mthumb",
                    "-std=c99",
                    "-O2",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-pedantic",
                    *flag,
                    "-I",
                    str(RUNTIME_DIR / "Include"),
                    "-c",
                    str(src),
                    "-o",
                    str(tmp_path / "x.o"),
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                assert proc.returncode == 0, proc.stderr
