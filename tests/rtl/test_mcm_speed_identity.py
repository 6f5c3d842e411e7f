"""The faster CSE (``hwq.rtl.mcm``) builds exactly the adder graphs, and so exactly the Verilog, of the
code before the speed work.

The fixture ``test_mcm_speed_identity.json`` beside this file holds sha256 hashes produced by the OLD
(pre-speed-work) ``rtl/mcm.py``, ``rtl/constmul.py`` and ``rtl/matrix.py`` of commit
916536b61afb69965060bba320db1ef84b280470 (its ``"commit"`` field); it is legitimately not produced by
the code under test. Two levels:

- ``graphs``: ``build_adder_graph`` on fixed matrices (dense random, sparse convolution-like, the
  ``bench_rtl`` kernels, trained-MLP-like shapes) with every adder style's options: the hash of the
  graph's nodes and output terms. This depends on ``rtl/mcm.py`` alone.
- ``verilog``: every file ``hwq.rtl.emit`` writes (no bench) for five designs (the digits MLP shape in 4-bit
  fixed point, the ``bench_rtl`` matrices 32x16 4-bit and 16x64, a streamed CNN, a residual CNN) in each
  adder style (fewest, balanced, shallow). This also depends on the rest of the emitter, which other work
  changes on purpose; so the emitted Verilog is also compared with the one built by the old extraction
  kept in ``mcm._extract_reference`` (the pre-speed-work ``_extract``, verbatim) in the same tree, and the
  fixture hash is required only while that reference still reproduces it (else the emitter changed
  elsewhere, and the old/new comparison is the check; regenerate with ``--write-verilog``, which emits
  with the reference extraction).

Regenerate: ``python -m tests.rtl.test_mcm_speed_identity --write`` (all) or ``--write-verilog``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hwq.rtl import mcm
from hwq.rtl.datapath import Datapath
from hwq.rtl.mcm import build_adder_graph

FIXTURE = Path(__file__).with_suffix(".json")
STYLES = ("fewest", "balanced", "shallow")


def _graph_cases() -> dict[str, np.ndarray]:
    """Name -> integer matrix (rows = outputs); fixed seeds."""
    rng = np.random.default_rng(12)
    cases: dict[str, np.ndarray] = {}
    for shape, bits in (((10, 7), 8), ((16, 64), 6), ((64, 16), 6), ((32, 64), 4), ((24, 24), 8), ((5, 3), 3)):
        half = 1 << (bits - 1)
        cases[f"dense{shape[0]}x{shape[1]}@{bits}"] = rng.integers(-half, half, size=shape)
    # bench_rtl kernels (x @ kernel: rows of W = kernel columns)
    for n_in, n_out, bits in ((16, 64, 6), (64, 32, 6), (32, 16, 4)):
        half = 1 << (bits - 1)
        kernel = np.random.default_rng(0).integers(-half, half, size=(n_in, n_out))
        cases[f"bench{n_in}x{n_out}@{bits}"] = kernel.T
    # sparse, convolution-like: a 3x3 kernel over a 6x6 image, 3 -> 2 channels, as a matrix
    w = rng.integers(-16, 16, size=(2, 3, 3, 3))
    mat = np.zeros((2 * 36, 3 * 36), dtype=np.int64)
    for o in range(2):
        for i in range(6):
            for j in range(6):
                for c in range(3):
                    for a in range(3):
                        for b in range(3):
                            y, x = i + a - 1, j + b - 1
                            if 0 <= y < 6 and 0 <= x < 6:
                                mat[(o * 6 + i) * 6 + j, (c * 6 + y) * 6 + x] = w[o, c, a, b]
    cases["conv6x6"] = mat
    # a few large weights, zeros, a 1x1 and a single row
    cases["wide"] = rng.integers(-(1 << 20), 1 << 20, size=(6, 5))
    cases["zeros"] = np.zeros((4, 3), dtype=np.int64)
    cases["scalar"] = np.array([[0b1011011101]])
    cases["row"] = rng.integers(-128, 128, size=(1, 40))
    return cases


def graph_hash(graph) -> str:
    """sha256 of an adder graph's inputs count, nodes and output terms (exact, ordered)."""
    text = repr((graph.n_inputs, list(graph.nodes), [list(t) for t in graph.outputs]))
    return hashlib.sha256(text.encode()).hexdigest()


def graph_hashes() -> dict[str, str]:
    """``case/style`` -> graph hash for every graph case and adder style."""
    out = {}
    for name, mat in _graph_cases().items():
        for style in STYLES:
            g = build_adder_graph(mat, **Datapath.ADDER_STYLES[style])
            out[f"{name}/{style}"] = graph_hash(g)
    return out


def _designs() -> dict:
    """Design name -> IR graph (fixed seeds)."""
    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from bench_rtl import case_matrix, cmvm_graph
        from bench_rtl_residual import residual_cnn
    finally:
        sys.path.pop(0)
    from .graphs import digits_mlp
    from .graphs_stream import stream_cnn

    return {
        "digits_mlp4": digits_mlp("fixed4"),
        "bench32x16@4": cmvm_graph(case_matrix(32, 16, 4), "m32x16", 4),
        "bench16x64": cmvm_graph(case_matrix(16, 64), "m16x64"),
        "stream_cnn": stream_cnn(),
        "residual_cnn": residual_cnn(8, 4),
    }


def verilog_hash(graph, style: str, reference: bool = False) -> str:
    """sha256 over every emitted file (sorted by name: name, NUL, content) of ``hwq.rtl.emit`` (no bench);
    ``reference``: with the pre-speed-work extraction ``mcm._extract_reference``."""
    from hwq.rtl import emit

    h = hashlib.sha256()
    fast = mcm._extract
    if reference:
        mcm._extract = mcm._extract_reference
    try:
        with tempfile.TemporaryDirectory() as tmp:
            emit(graph, tmp, pipeline=1, tb_vectors=0, adders=style, command="hwq emit rtl")
            for p in sorted(Path(tmp).rglob("*")):
                if p.is_file():
                    h.update(p.relative_to(tmp).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    finally:
        mcm._extract = fast
    return h.hexdigest()


def _fixture() -> dict:
    return json.loads(FIXTURE.read_text())


def test_adder_graphs_identical_to_old_code():
    want = _fixture()["graphs"]
    got = graph_hashes()
    assert set(got) == set(want)
    bad = sorted(k for k in want if got[k] != want[k])
    assert not bad, f"adder graphs differ from the pre-speed-work CSE: {bad}"


@pytest.mark.slow
@pytest.mark.parametrize("design", ["digits_mlp4", "bench32x16@4", "bench16x64", "stream_cnn", "residual_cnn"])
def test_verilog_identical_to_old_code(design):
    want = _fixture()["verilog"]
    graph = _designs()[design]
    for style in STYLES:
        got = verilog_hash(graph, style)
        if got == want[f"{design}/{style}"]:
            continue
        ref = verilog_hash(graph, style, reference=True)
        assert got == ref, f"{design}, adders={style}: the fast CSE emits other Verilog than the reference CSE"
        assert ref != want[f"{design}/{style}"], f"{design}, adders={style}: Verilog differs from the fixture"


@pytest.mark.parametrize("fast", ["_extract", "_extract_py"])
@pytest.mark.parametrize("newest", [True, False])
@pytest.mark.parametrize("bound", [None, 3, 5])
@pytest.mark.parametrize("seed", range(6))
def test_extract_same_as_reference(seed, bound, newest, fast, monkeypatch):
    """Both fast extractions (numpy tables; plain Python with batched counts) and the earlier
    dict-and-heap one build the same graph (any tie rule, bound)."""
    monkeypatch.setattr(mcm, "_PAIR_TABLE_MIN", 0)  # the numpy tables even on these small matrices
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    w = rng.integers(-(1 << int(rng.integers(1, 10))), 1 << int(rng.integers(1, 10)), size=(m, n))
    w[rng.random((m, n)) < rng.random()] = 0  # from dense to sparse
    rows = [[int(v) for v in r] for r in w]
    graphs = []
    for fn in (getattr(mcm, fast), mcm._extract_reference):
        saved = mcm._extract
        mcm._extract = fn
        try:
            graphs.append(mcm._cse_graph(rows, n, newest, bound))
        finally:
            mcm._extract = saved
    assert graphs[0].nodes == graphs[1].nodes and graphs[0].outputs == graphs[1].outputs


def test_graph_hash_detects_a_change():
    """The comparison can fail: one changed weight changes the hash."""
    mat = _graph_cases()["dense10x7@8"].copy()
    h0 = graph_hash(build_adder_graph(mat))
    mat[3, 2] += 1
    assert graph_hash(build_adder_graph(mat)) != h0


def _write(verilog: bool, graphs: bool) -> None:
    data = _fixture() if FIXTURE.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    data["commit"] = data.get("commit", commit)
    if graphs:
        data["graphs"] = graph_hashes()
    if verilog:
        data["verilog"] = {f"{d}/{s}": verilog_hash(g, s, True) for d, g in _designs().items() for s in STYLES}
    FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    _write(verilog="--write" in args or "--write-verilog" in args, graphs="--write" in args)
