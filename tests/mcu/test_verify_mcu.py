"""``hwq emit mcu`` + ``hwq verify mcu`` from the command line: the last line, verify.json, exit codes, and a
tampered build that must mismatch (the check can fail)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hwq.ir.serialize import save

from .conftest import need_tool
from .graphs_c import random_cmsis_graph


def _hwq(*args, cwd):
    return subprocess.run(["hwq", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_cli_emit_verify_2000(tmp_path):
    need_tool("gcc")
    save(random_cmsis_graph(11, kinds=["conv", "maxpool", "add"]), tmp_path / "g.json")
    r = _hwq("emit", "mcu", "--ir", "g.json", "--out", "m", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _hwq("verify", "mcu", "m", "--vectors", "2000", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "verify mcu: 2000 vectors, 0 mismatches"
    rep = json.loads((tmp_path / "m" / "verify.json").read_text())
    assert rep["vectors"] == 2000 and rep["mismatches"] == 0
    mj = json.loads((tmp_path / "m" / "mcu.json").read_text())
    assert mj["memory"]["arena_bytes"] <= mj["memory"]["tflm_greedy_bytes"] <= mj["memory"]["naive_bytes"]


def test_cli_verify_catches_a_wrong_weight(tmp_path):
    need_tool("gcc")
    save(random_cmsis_graph(12, kinds=["conv"], dense=True), tmp_path / "g.json")
    assert _hwq("emit", "mcu", "--ir", "g.json", "--out", "m", cwd=tmp_path).returncode == 0
    wfile = next((tmp_path / "m").glob("hwq_*_weights.c"))
    text = wfile.read_text()
    i = text.index("= {\n") + 4
    j = text.index(",", i)
    old = int(text[i:j])
    wfile.write_text(text[:i] + str(old + 1 if old < 100 else old - 1) + text[j:])
    r = _hwq("verify", "mcu", "m", "--vectors", "300", cwd=tmp_path)
    assert r.returncode == 1
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("verify mcu: 300 vectors, ") and not last.endswith(" 0 mismatches")


def test_cli_verify_names_what_is_missing(tmp_path):
    (tmp_path / "m").mkdir()
    r = _hwq("verify", "mcu", "m", cwd=tmp_path)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "graph.json" in err[0] and "mcu.json" in err[0] and "Traceback" not in r.stderr
    r = _hwq("verify", "mcu", "nowhere", cwd=tmp_path)
    assert r.returncode == 2 and "nowhere" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("config", ["cnn_cmsis_int8_qat", "mlp_cmsis_int8_ptq"])
def test_trained_example_train_emit_verify(config, tmp_path):
    """The user's three commands on a shipped CMSIS-profile example: train, emit mcu, verify mcu (2,000)."""
    need_tool("gcc")
    cfg = Path(__file__).resolve().parents[2] / "examples" / f"{config}.toml"
    r = _hwq("train", "--config", str(cfg), "--out", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _hwq("emit", "mcu", "--ir", "run/graph.json", "--out", "m", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _hwq("verify", "mcu", "m", "--vectors", "2000", cwd=tmp_path)
    assert r.stdout.strip().splitlines()[-1] == "verify mcu: 2000 vectors, 0 mismatches", r.stdout + r.stderr


@pytest.mark.slow
def test_cli_verify_qemu_prints_layer_counts(tmp_path):
    need_tool("arm-none-eabi-gcc")
    need_tool("qemu-system-arm")
    save(random_cmsis_graph(13, kinds=["conv", "maxpool"], dense=True), tmp_path / "g.json")
    assert _hwq("emit", "mcu", "--ir", "g.json", "--out", "m", cwd=tmp_path).returncode == 0
    r = _hwq("verify", "mcu", "m", "--vectors", "10", "--target", "cortex-m55", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "verify mcu: 10 vectors, 0 mismatches"
    assert any(ln.startswith("layer 0: ") and "arm_convolve_wrapper_s8" in ln for ln in lines)
    assert any(ln.startswith("cortex-m55: ") and "instructions per inference" in ln for ln in lines)
