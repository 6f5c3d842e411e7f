"""Every malformed input is refused with one line (exit 2) or accepted, never a traceback (issue 17 item 4).

Property-based (hypothesis): valid ``graph.json`` files, run configs and format strings are mutated (a
deleted key, a null, a wrong type, a huge or negative number, an edited format string, a dropped or
duplicated list item) and fed to every command in-process through ``hwq.cli.main``. Each run must end
with exit code 0 or 1 (the input was valid) or 2 with exactly one stderr line ``hwq CMD: error: ...``
naming the file; exit 3 (internal error, i.e. an uncaught exception) fails the test. Emit runs must leave
no output folder behind when they fail.

``python tests/core/test_fuzz_inputs.py [--count 60] [--seed 0]`` prints, for ``hwq trace`` on mutated
copies of a valid graph, how many runs end in each outcome (the issue's baseline: 25 of 60 crashed).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwq.cli import main
from hwq.formats import parse
from hwq.ir.random_graph import random_graph
from hwq.ir.serialize import graph_to_dict

# -- valid documents -----------------------------------------------------------------------------------------


def _graph_docs() -> list[dict]:
    """Small valid graphs covering every op kind, as JSON documents."""
    specs = [
        ["dense", "relu", "dense"],
        ["conv2d", "maxpool", "flatten", "dense"],
        ["conv1d", "batchnorm", "avgpool", "global_avgpool"],
        ["conv2d", "add", "mul", "clip", "concat", "lut", "reshape"],
        ["dense", "add_dyadic", "mul_dyadic", "requantize_s64"],
        ["conv2d", "avgpool_cmsis"],
    ]
    docs = []
    for seed, ops in enumerate(specs):
        try:
            g = random_graph(seed, ops=ops, max_width=8)
        except Exception:  # an op kind this version does not build
            continue
        docs.append(json.loads(json.dumps(graph_to_dict(g))))
    return docs


GRAPH_DOCS = _graph_docs()

CONFIG = {
    "name": "fuzz",
    "mode": "qat",
    "model": {"arch": "mlp", "hidden": [16]},
    "train": {"epochs": 1, "qat_epochs": 1, "quant_lr": 0.03, "batch_size": 64, "seed": 0},
    "quant": {
        "input": "ufixed<5,1,RND_CONV,SAT>",
        "weight": {"kind": "fixed", "width": 4, "int_bits": "learn"},
        "bias": {"kind": "fixed", "width": 8, "int_bits": 2},
        "preact": {"kind": "fixed", "width": 8, "int_bits": "learn"},
        "act": {"kind": "fixed", "width": 4, "int_bits": "learn", "signed": False},
        "output": "fixed<8,4,RND,SAT>",
    },
}

FORMATS = [
    "fixed<8,3>",
    "ufixed<6,2,RND_CONV,SAT>",
    "fixed<12,4,RND,SAT_SYM>",
    "ap_fixed<8,3,AP_RND,AP_SAT>",
    "ap_int<9>",
    "float<4,3,fn>",
    "e4m3fn",
    "e5m2",
    "int<8,scale=0.5,zp=3>",
    "uint<4,narrow>",
    "csd<8,3,2>",
    "pow2<6,2>",
]

# -- mutations -----------------------------------------------------------------------------------------------

WRONG = [None, "x", "", [], {}, True, False, 1.5, -1, 0, 7, [1, 2], {"a": 1}, "fixed<8,3>"]
HUGE = [10**30, -(10**30), 2**63, 2**31, 2**31 - 1, -(2**31), 1e308, -1e308, 10**400, 65536]


def _paths(doc, prefix=()) -> list[tuple]:
    """Every key/index path in a JSON document (the root excluded)."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:6]):  # long lists: the first few items stand for the rest
            out.append((*prefix, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


def _edit_text(s: str, rnd: random.Random) -> str:
    """A random edit of a string: a digit made huge/negative, a character dropped, swapped or inserted."""
    choice = rnd.randrange(6)
    if choice == 0 and any(c.isdigit() for c in s):
        i = rnd.choice([i for i, c in enumerate(s) if c.isdigit()])
        return s[:i] + rnd.choice(["99999999999", "-5", "0", "1025", "4096"]) + s[i + 1 :]
    if choice == 1 and s:
        i = rnd.randrange(len(s))
        return s[:i] + s[i + 1 :]
    if choice == 2 and s:
        i = rnd.randrange(len(s))
        return s[:i] + rnd.choice("<>,=.-_ aZ9\x00é") + s[i + 1 :]
    if choice == 3:
        i = rnd.randrange(len(s) + 1)
        return s[:i] + rnd.choice([",", ",RND", ",SAT", ",WRAP", ",scale=0", ",axis=9", ",bias=-300", ">", "<"]) + s[i:]
    if choice == 4:
        return s.replace("<", "<<") if "<" in s else s + "<"
    return rnd.choice(FORMATS)


def mutate(doc, rnd: random.Random):
    """One random mutation of a JSON document (returns a new document and a description)."""
    doc = copy.deepcopy(doc)
    paths = _paths(doc)
    path = rnd.choice(paths)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    old = parent[key]
    kind = rnd.randrange(7)
    if kind == 0:  # delete
        del parent[key]
        what = "deleted"
    elif kind == 1:
        parent[key] = None
        what = "null"
    elif kind == 2:
        parent[key] = copy.deepcopy(rnd.choice(WRONG))
        what = f"wrong type {parent[key]!r}"
    elif kind == 3:
        parent[key] = rnd.choice(HUGE)
        what = "huge number"
    elif kind == 4 and isinstance(old, str):
        parent[key] = _edit_text(old, rnd)
        what = f"edited text {parent[key]!r}"
    elif kind == 5 and isinstance(old, list) and old:
        if rnd.random() < 0.5:
            old.pop(rnd.randrange(len(old)))
            what = "list item dropped"
        else:
            old.append(copy.deepcopy(rnd.choice(old)))
            what = "list item duplicated"
    elif isinstance(old, (int, float)) and not isinstance(old, bool):
        parent[key] = rnd.choice([-old, old + 1, old * 1000, -1, 0])
        what = f"number changed to {parent[key]!r}"
    else:
        parent[key] = copy.deepcopy(rnd.choice(WRONG))
        what = f"wrong type {parent[key]!r}"
    return doc, f"{'.'.join(map(str, path))}: {what}"


# -- running a command ---------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``hwq.cli.main(argv)`` in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # an old CLI lets argparse exit
            rc = e.code
        except BaseException as e:  # an escaped exception: what a traceback would be
            err.write(f"Traceback (most recent call last):\n  escaped {type(e).__name__}: {e}\n")
            rc = "raised"
    return rc, out.getvalue(), err.getvalue()


def check_outcome(rc, err: str, cmd: str, names: list[str], what: str) -> None:
    """The property: exit 0/1, or exit 2 with one line ``hwq CMD: error: ...`` naming one of ``names``."""
    lines = [s for s in err.splitlines() if s.strip()]
    assert "Traceback" not in err, f"{what}: traceback\n{err}"
    assert rc in (0, 1, 2), f"{what}: exit {rc}\n{err}"
    if rc == 2:
        assert len(lines) == 1, f"{what}: error is not one line:\n{err}"
        assert lines[0].startswith(f"hwq {cmd}: error: "), f"{what}: {lines[0]}"
        assert any(n in lines[0] for n in names), f"{what}: error does not name {names}: {lines[0]}"


def _write(doc, path: Path) -> Path:
    text = json.dumps(doc) if not isinstance(doc, str) else doc
    path.write_text(text)
    return path


def _settings(n: int) -> settings:
    """Deterministic hypothesis settings with ``n`` examples and no per-example deadline."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# -- the properties ------------------------------------------------------------------------------------------


@_settings(250)
@given(doc_index=st.integers(0, len(GRAPH_DOCS) - 1), seed=st.integers(0, 2**32 - 1))
def test_trace_on_mutated_graph_never_crashes(tmp_path_factory, doc_index, seed):
    rnd = random.Random(seed)
    doc, what = mutate(GRAPH_DOCS[doc_index], rnd)
    p = _write(doc, tmp_path_factory.mktemp("g") / "graph.json")
    rc, _, err = run_cli(["trace", str(p)])
    check_outcome(rc, err, "trace", [str(p)], what)


@pytest.mark.parametrize("target", ["hls", "rtl", "mcu"])
def test_emit_on_mutated_graphs_never_crashes_nor_leaves_a_folder(tmp_path, target):
    @_settings(60)
    @given(doc_index=st.integers(0, len(GRAPH_DOCS) - 1), seed=st.integers(0, 2**32 - 1))
    def prop(doc_index, seed):
        rnd = random.Random(seed)
        doc, what = mutate(GRAPH_DOCS[doc_index], rnd)
        work = tmp_path / f"w{seed}"
        work.mkdir()
        p = _write(doc, work / "graph.json")
        out = work / "out"
        rc, _, err = run_cli(["emit", target, "--ir", str(p), "--out", str(out)])
        check_outcome(rc, err, "emit", [str(p), "-O", "op ", "tensor ", "graph ", "format", target], what)
        if rc != 0:
            assert not out.exists(), f"{what}: emit failed but left {sorted(out.rglob('*'))}"
            assert [q.name for q in work.iterdir()] == ["graph.json"], f"{what}: left {list(work.iterdir())}"
        shutil.rmtree(work)

    prop()


@pytest.mark.parametrize("target", ["xc7", "cortex-m4"])
def test_cost_on_mutated_graphs_never_crashes(tmp_path, target):
    from hwq.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    if "cost" not in sub.choices:
        pytest.skip("hwq cost is not in this version")

    @_settings(30)
    @given(doc_index=st.integers(0, len(GRAPH_DOCS) - 1), seed=st.integers(0, 2**32 - 1))
    def prop(doc_index, seed):
        doc, what = mutate(GRAPH_DOCS[doc_index], random.Random(seed))
        p = _write(doc, tmp_path / f"g{seed}.json")
        rc, _, err = run_cli(["cost", str(p), "--target", target])
        check_outcome(rc, err, "cost", [str(p), "op ", "tensor ", "graph ", target], what)

    prop()


@_settings(25)
@given(seed=st.integers(0, 2**32 - 1))
def test_verify_on_mutated_graph_never_crashes(tmp_path_factory, seed):
    base = _emitted_hls(tmp_path_factory)
    rnd = random.Random(seed)
    doc, what = mutate(json.loads((base / "graph.json").read_text()), rnd)
    d = tmp_path_factory.mktemp("v") / "hls"
    shutil.copytree(base, d)
    _write(doc, d / "graph.json")
    rc, _, err = run_cli(["verify", "hls", str(d), "--vectors", "4"])
    check_outcome(rc, err, "verify", [str(d)], what)


_EMITTED: dict[str, Path] = {}


def _emitted_hls(factory) -> Path:
    """An HLS project of a small dense graph, emitted and verified once (the g++ build is then cached)."""
    if "hls" not in _EMITTED:
        d = factory.mktemp("base")
        g = d / "graph.json"
        doc = GRAPH_DOCS[0]
        _write(doc, g)
        assert main(["emit", "hls", "--ir", str(g), "--out", str(d / "hls"), "-q"]) == 0
        assert main(["verify", "hls", str(d / "hls"), "--vectors", "4", "-q"]) == 0
        _EMITTED["hls"] = d / "hls"
    return _EMITTED["hls"]


@_settings(80)
@given(seed=st.integers(0, 2**32 - 1), fmt=st.sampled_from(["json", "toml"]))
def test_train_on_mutated_config_never_crashes(tmp_path_factory, monkeypatch, seed, fmt):
    """Configs are checked completely before training; the training itself is replaced by a stop."""
    import hwq.train.loop as loop

    class Stop(Exception):
        pass

    def stop(*a, **k):
        raise Stop

    monkeypatch.setattr(loop, "train_float", stop)
    rnd = random.Random(seed)
    doc, what = mutate(CONFIG, rnd)
    d = tmp_path_factory.mktemp("c")
    if fmt == "json":
        p = _write(doc, d / "cfg.json")
    else:
        p = d / "cfg.toml"
        p.write_text(_to_toml(doc))
    out = d / "out"
    try:
        rc, _, err = run_cli(["train", "--config", str(p), "--out", str(out), "-q"])
    finally:
        monkeypatch.undo()
    if "escaped Stop" in err or "internal error: Stop" in err:
        return  # the config was accepted: training would start
    check_outcome(rc, err, "train", [str(p), ".", "config"], what)


def _to_toml(doc: dict) -> str:
    """A TOML text of a config document (values TOML cannot hold are written as strings)."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)) and not (isinstance(v, float) and not np.isfinite(v)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(str(k))} = {val(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    lines = [f"{json.dumps(str(k))} = {val(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{json.dumps(str(k))}]")
            lines += [f"{json.dumps(str(kk))} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


@_settings(300)
@given(base=st.sampled_from(FORMATS), seed=st.integers(0, 2**32 - 1), junk=st.text(max_size=30))
def test_format_strings_parse_or_raise_value_error(base, seed, junk):
    rnd = random.Random(seed)
    for s in (_edit_text(base, rnd), _edit_text(_edit_text(base, rnd), rnd), junk):
        try:
            fmt = parse(s)
        except ValueError as e:
            assert str(e), s
            continue
        assert parse(str(fmt)) == fmt, s


@_settings(60)
@given(doc_index=st.integers(0, len(GRAPH_DOCS) - 1), seed=st.integers(0, 2**32 - 1))
def test_mutated_tensor_format_strings_through_trace(tmp_path_factory, doc_index, seed):
    rnd = random.Random(seed)
    doc = copy.deepcopy(GRAPH_DOCS[doc_index])
    t = rnd.choice(doc["tensors"])
    t["format"] = _edit_text(t["format"], rnd)
    p = _write(doc, tmp_path_factory.mktemp("f") / "graph.json")
    rc, _, err = run_cli(["trace", str(p)])
    check_outcome(rc, err, "trace", [str(p)], f"tensor {t['name']} format {t['format']!r}")


def _baseline(count: int, seed: int) -> None:
    """Count outcomes of ``hwq trace`` on ``count`` mutated copies of a valid graph (issue 17's measure)."""
    import tempfile

    rnd = random.Random(seed)
    outcomes = {"accepted": 0, "one-line error": 0, "traceback/internal error": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            doc, what = mutate(GRAPH_DOCS[i % len(GRAPH_DOCS)], rnd)
            p = _write(doc, Path(tmp) / f"g{i}.json")
            rc, _, err = run_cli(["trace", str(p)])
            lines = [s for s in err.splitlines() if s.strip()]
            if rc in (0, 1):
                outcomes["accepted"] += 1
            elif rc == 2 and len(lines) == 1 and "Traceback" not in err:
                outcomes["one-line error"] += 1
            else:
                outcomes["traceback/internal error"] += 1
                print(f"  {what}: {lines[-1] if lines else rc}")
    print(f"hwq trace on {count} mutated graphs (seed {seed}): {outcomes}")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    _baseline(a.count, a.seed)
