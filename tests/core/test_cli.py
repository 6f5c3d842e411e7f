"""The command line: user errors are one clear line and exit code 2, never a traceback."""

import subprocess
import sys

import numpy as np

from hwq.cli import main
from hwq.formats import parse
from hwq.ir import Dense, Graph
from hwq.ir.serialize import save


def _tiny_graph() -> Graph:
    g = Graph("tiny", ["x"], ["y"])
    g.add_tensor("x", (2,), "fixed<6,2>")
    g.add_tensor("y", (1,), "fixed<8,4,RND,SAT>")
    g.add_op(
        Dense(
            "fc",
            ["x"],
            "y",
            weight=np.array([[1, -1]]),
            bias=np.array([0]),
            weight_fmt=parse("fixed<3,1>"),
            bias_fmt=parse("fixed<4,2>"),
            acc_fmt=parse("fixed<12,5>"),
        )
    )
    return g


def test_console_script_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "hwq.cli", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("emit", "verify", "flow"):
        assert cmd in out.stdout


def test_missing_ir_file_is_a_clear_error(tmp_path, capsys):
    rc = main(["emit", "hls", "--ir", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "nope.json" in err and "Traceback" not in err


def test_corrupt_ir_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "graph.json"
    bad.write_text('{"hwq_ir": 1, "name": "x", "inputs": [')
    rc = main(["emit", "hls", "--ir", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "graph.json" in err and "truncated" in err


def test_emit_refuses_non_empty_output_folder(tmp_path, capsys):
    ir = save(_tiny_graph(), tmp_path / "graph.json")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.v").write_text("// user's file")
    rc = main(["emit", "hls", "--ir", str(ir), "--out", str(out)])
    assert rc == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "mine.v").read_text() == "// user's file"
