"""CLI conventions (issue 17 item 5): one-line user errors with exit code 2 naming the file/key/layer, never a
traceback, nothing written on error; ``--help`` examples; ``--quiet``/``--verbose``; ``-O`` options listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwq.cli import COMMANDS, main
from hwq.ir.random_graph import random_graph
from hwq.ir.serialize import save


def _graph(tmp_path: Path, ops=("dense", "relu", "dense"), seed: int = 0) -> Path:
    return save(random_graph(seed, ops=list(ops), max_width=8), tmp_path / "graph.json")


def _hwq(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``hwq ARGS`` in a fresh interpreter (as a user would)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "hwq.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def _one_line_error(r, cmd: str, *needles: str) -> str:
    lines = [s for s in r.stderr.splitlines() if s.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"hwq {cmd}: error: "), lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# -- subprocess cases: exit code, message, nothing written -------------------------------------------------


def test_corrupt_ir_file_names_the_file_and_writes_nothing(tmp_path):
    bad = tmp_path / "graph.json"
    bad.write_bytes(b'{"hwq_ir": 1, "name": "\xff\xfe\x00garbage')
    out = tmp_path / "out"
    r = _hwq("emit", "rtl", "--ir", str(bad), "--out", str(out))
    _one_line_error(r, "emit", str(bad), "not UTF-8")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["graph.json"]


def test_mutated_ir_field_names_the_json_path(tmp_path):
    p = _graph(tmp_path)
    doc = json.loads(p.read_text())
    doc["ops"][0]["weight"]["shape"][1] = None
    p.write_text(json.dumps(doc))
    r = _hwq("trace", str(p))
    msg = _one_line_error(r, "trace", str(p), "ops[0].weight.shape[1]")
    assert "expected an integer, got null" in msg
    doc["tensors"][1]["format"] = "fixed<8,3,RND,SATURATE>"
    p.write_text(json.dumps(doc))
    r = _hwq("trace", str(p))
    _one_line_error(r, "trace", str(p), "tensors[1].format")


def test_emit_mcu_of_an_unsupported_graph_leaves_no_folder(tmp_path):
    p = _graph(tmp_path, ops=("conv2d", "lut"))
    out = tmp_path / "mcu"
    r = _hwq("emit", "mcu", "--ir", str(p), "--out", str(out))
    if r.returncode == 0:  # this version's MCU backend takes the graph: the folder must then be complete
        assert (out / "graph.json").exists()
        return
    _one_line_error(r, "emit")
    assert not out.exists()
    assert [q.name for q in tmp_path.iterdir() if q.name != "graph.json"] == []


def test_verify_mcu_of_a_missing_or_empty_folder_is_one_line(tmp_path):
    r = _hwq("verify", "mcu", str(tmp_path / "nope"))
    _one_line_error(r, "verify", "nope")
    (tmp_path / "empty").mkdir()
    r = _hwq("verify", "mcu", str(tmp_path / "empty"))
    _one_line_error(r, "verify", "empty")


def test_unknown_emitter_option_names_the_key_and_lists_the_known_ones(tmp_path):
    p = _graph(tmp_path)
    r = _hwq("emit", "hls", "--ir", str(p), "--out", str(tmp_path / "o"), "-O", "stratgy=resource")
    _one_line_error(r, "emit", "stratgy", "strategy", "reuse_factor")
    r = _hwq("emit", "rtl", "--ir", str(p), "--out", str(tmp_path / "o"), "-O", "pipeline=two")
    _one_line_error(r, "emit", "pipeline=two", "integer")
    assert not (tmp_path / "o").exists()


def test_usage_errors_are_one_line(tmp_path):
    r = _hwq("emit", "hls", "--ir", "x.json")
    _one_line_error(r, "emit hls", "--out", "--help")
    r = _hwq("frobnicate")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_bad_config_names_file_and_key(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[train]\nepochs = "many"\n')
    out = tmp_path / "run"
    r = _hwq("train", "--config", str(cfg), "--out", str(out))
    _one_line_error(r, "train", str(cfg), "train.epochs")
    assert not out.exists()


# -- in-process: conventions -----------------------------------------------------------------------------


def _subcommands() -> list[str]:
    from hwq.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)


def test_every_registered_command_is_listed():
    assert len(_subcommands()) >= len(COMMANDS) - 1  # a command module may be absent in a build


@pytest.mark.parametrize("cmd", _subcommands())
def test_every_command_help_has_an_example_and_the_common_options(cmd, capsys):
    assert main([cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"hwq {cmd} " in out.split("examples:", 1)[1], out
    if cmd in ("emit", "import"):  # commands with targets: the common options are on each target
        target = "hls" if cmd == "emit" else out.split("{", 1)[1].split(",", 1)[0]
        assert main([cmd, target, "--help"]) == 0
        out = capsys.readouterr().out
        assert "examples:" in out
    for opt in ("--quiet", "--verbose", "--no-progress"):
        assert opt in out, (cmd, opt)


@pytest.mark.parametrize("target, keys", [("hls", ["strategy", "reuse_factor", "part"]), ("rtl", ["pipeline", "io"])])
def test_emit_target_help_lists_its_options(target, keys, capsys):
    assert main(["emit", target, "--help"]) == 0
    listing = capsys.readouterr().out.split("-O options", 1)[1]
    for k in keys:
        assert f"\n  {k} " in listing


def test_quiet_prints_nothing_and_verbose_prints_more(tmp_path, capsys):
    p = _graph(tmp_path)
    assert main(["trace", str(p), "--quiet"]) == 0
    c = capsys.readouterr()
    assert c.out == "" and c.err == ""
    assert main(["emit", "hls", "--ir", str(p), "--out", str(tmp_path / "h"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["emit", "hls", "--ir", str(p), "--out", str(tmp_path / "h"), "-q"]) == 2  # errors still shown
    assert "--force" in capsys.readouterr().err


def test_internal_errors_are_one_line_exit_3_and_verbose_shows_the_traceback(tmp_path, capsys, monkeypatch):
    import hwq.commands.trace as trace_cmd

    def boom(args):
        raise KeyError("bug")

    p = _graph(tmp_path)
    monkeypatch.setattr(trace_cmd, "run", boom)  # register() binds run when main builds the parser
    assert main(["trace", str(p)]) == 3
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "internal error: KeyError" in err and "Traceback" not in err
    assert main(["trace", str(p), "--verbose"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_emit_failure_midway_leaves_no_half_written_folder(tmp_path, monkeypatch, capsys):
    import hwq.rtl

    p = _graph(tmp_path)
    real = hwq.rtl.emit

    def half(graph, out_dir, **kw):
        real(graph, out_dir, **kw)  # every file written ...
        raise hwq.rtl.RtlError("op 'x' (dense): simulated failure after writing")  # ... then an error

    monkeypatch.setattr(hwq.rtl, "emit", half)
    out = tmp_path / "rtl"
    assert main(["emit", "rtl", "--ir", str(p), "--out", str(out)]) == 2
    assert "simulated failure" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["graph.json"]  # no temp sibling either
    # into an existing folder with --force: the user's files stay, nothing new appears
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["emit", "rtl", "--ir", str(p), "--out", str(out), "--force"]) == 2
    assert [q.name for q in out.iterdir()] == ["mine.txt"]
    monkeypatch.setattr(hwq.rtl, "emit", real)
    assert main(["emit", "rtl", "--ir", str(p), "--out", str(out), "--force"]) == 0
    names = {q.name for q in out.iterdir()}
    assert "mine.txt" in names and "graph.json" in names and "rtl.json" in names
    assert sorted(q.name for q in tmp_path.iterdir()) == ["graph.json", "rtl"]


def test_emit_options_are_typed_from_the_emitter_defaults(tmp_path):
    from hwq.commands.emit import emit_options, parse_options

    assert parse_options(["pipeline=2", "io=parallel"], "rtl") == {"pipeline": 2, "io": "parallel"}
    assert parse_options(["reuse_factor=4", "strategy=resource"], "hls") == {"reuse_factor": 4, "strategy": "resource"}
    assert emit_options("rtl")["pipeline"][0] == 1


def test_failed_emit_into_new_nested_folders_leaves_no_parent_folders(tmp_path, capsys):
    p = _graph(tmp_path, ops=("dense", "add_dyadic"))  # the rtl emitter refuses dyadic adds
    out = tmp_path / "a" / "b" / "rtl"
    assert main(["emit", "rtl", "--ir", str(p), "--out", str(out)]) == 2
    assert "op " in capsys.readouterr().err
    assert sorted(q.name for q in tmp_path.iterdir()) == ["graph.json"]


def test_tool_and_build_failures_are_user_errors(tmp_path, capsys):
    d = tmp_path / "hls"
    (d / "tb").mkdir(parents=True)
    _graph(d)  # a graph.json but no emitted sources: the C-simulation cannot be built
    assert main(["verify", "hls", str(d), "--vectors", "3"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(d) in err and "internal error" not in err
