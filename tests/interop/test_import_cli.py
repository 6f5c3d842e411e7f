"""``hwq import``: QONNX and Brevitas through the command line; bad input is one line, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from hwq.cli import main

from ..tools import require_module

MODELS = Path(__file__).with_name("models.py")


def test_import_brevitas_then_qonnx_roundtrip(tmp_path, capsys):
    require_module("brevitas", "the Brevitas importer", extra="interop")
    out = tmp_path / "brev"
    rc = main(["import", "brevitas", "--model", f"{MODELS}:brevitas_mlp", "--input-shape", "16", "--out", str(out)])
    assert rc == 0
    graph = json.loads((out / "graph.json").read_text())
    assert [op["kind"] for op in graph["ops"]].count("dense") == 3
    assert "wrote" in capsys.readouterr().out


def test_bad_inputs_name_the_culprit(tmp_path, capsys):
    cases = [
        (["import", "qonnx", str(tmp_path / "missing.onnx")], "missing.onnx: no such QONNX file"),
        (["import", "brevitas", "--model", f"{MODELS}:brevitas_mlp", "--input-shape", "x"], "--input-shape"),
        (["import", "brevitas", "--model", f"{MODELS}:nope", "--input-shape", "16"], "has no function 'nope'"),
        (["import", "qonnx"], "give the .onnx file"),
    ]
    for i, (argv, message) in enumerate(cases):
        out = tmp_path / f"out{i}"
        assert main([*argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not out.exists()
