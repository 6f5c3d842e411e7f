"""The exact FPGA model on layer DAGs (streamed residual Add, inception Concat, input gate Mul, downsample
block; ``hwq.cost.rtl_dag``) against RECORDED yosys counts of the emitted Verilog.

Fixture ``data/dag_yosys.json``: xc7 cell counts (yosys version and script in the file) of the four DAG
designs of ``tests/rtl/test_latency_stream.py``, the benchmark's residual CNN (6x6, 2 channels) and five
held-out designs (recorded after the model was final: other seeds and pipelines, a two-block ResNet stage),
each with a hash of its IR and pipeline so a changed design is never compared with an old count; and the
flip-flops of ``hwq_fifo`` synthesised alone at several depths. Before ``rtl_dag`` the model priced each
branching region as one parallel layer: +1,639 to +16,569 FF, +372 to +1,353 % LUT on the first five
designs, and no exact latency. Re-record (needs yosys, about 5 min CPU):

    python -m tests.cost.test_dag_exact --record

``python -m tests.cost.test_dag_exact --compare`` prints the before/after table (model only, no yosys).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from hwq.cost import fpga, load_target
from tests.tools import require_tool

DATA = Path(__file__).parent / "data" / "dag_yosys.json"
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_rtl_residual.py"
FIFO_SIZES = [(3, 8), (5, 8), (9, 21), (9, 12), (14, 12), (17, 12), (40, 8), (70, 8)]  # (DEPTH, DATA_WIDTH)
#: LUT error bound asserted (xc7, whole design): the recorded errors are -6.1 .. +7.8 %
LUT_TOL = 0.10


def _bench():
    spec = importlib.util.spec_from_file_location("bench_rtl_residual_dag", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def designs() -> dict:
    """name -> (graph builder, pipeline)."""
    from tests.rtl.graphs_residual import downsample_block, inception, input_gate
    from tests.rtl.graphs_stream import GEOMETRIES

    return {
        "dag_residual_add": (lambda: GEOMETRIES["residual_add"](1), 2),
        "dag_inception": (inception, 0),
        "dag_input_gate": (input_gate, 2),
        "dag_downsample_block": (downsample_block, 2),
        "residual_cnn_6x2": (lambda: _bench().residual_cnn(6, 2), 2),
        # held out: recorded after the model was final (other seeds, pipelines, two residual blocks)
        "residual_add_p0": (lambda: GEOMETRIES["residual_add"](1), 0),
        "inception_p1_seed3": (lambda: inception(3), 1),
        "input_gate_p0_seed1": (lambda: input_gate(1), 0),
        "resnet_stage_6x2x2": (lambda: _bench().resnet_stage(6, 2, 2), 1),
        "residual_cnn_8x2_p3": (lambda: _bench().residual_cnn(8, 2, seed=1), 3),
    }


def _ir_hash(graph, pipeline: int) -> str:
    from hwq.ir.serialize import dumps

    return hashlib.sha256(f"{dumps(graph)}\n{pipeline}".encode()).hexdigest()[:16]


def _synth(folder: Path, script: str) -> dict:
    from hwq.rtl.tools import synth_report

    return synth_report(folder, script=script)["cells"]


def record(work: Path) -> dict:
    """The fixture: emit and synthesise every design (xc7), and ``hwq_fifo`` alone at ``FIFO_SIZES``."""
    import shutil
    import subprocess

    from hwq.cost.calibrate import count_cells, yosys_version
    from hwq.rtl import emit

    tgt = load_target("xc7")
    script = tgt["synth"]["script"]
    out = {"yosys": yosys_version(), "target": "xc7", "script": script, "designs": {}, "fifo": {}}
    for name, (build, pipeline) in designs().items():
        g = build()
        folder = work / name
        folder.mkdir(parents=True, exist_ok=True)
        emit(g, folder, pipeline=pipeline, tb_vectors=0)
        cells = _synth(folder, script)
        out["designs"][name] = {
            "ir": _ir_hash(g, pipeline),
            "pipeline": pipeline,
            "counts": count_cells(cells, tgt["synth"]),
            "cells": dict(sorted(cells.items())),
        }
    prim = Path(__file__).resolve().parents[2] / "rtl" / "primitives" / "hwq_fifo.v"
    for depth, width in FIFO_SIZES:
        cmd = (
            f"read_verilog {prim}; chparam -set DEPTH {depth} -set DATA_WIDTH {width} hwq_fifo; "
            f"{script} -top hwq_fifo; tee -o /dev/stdout stat"
        )
        text = subprocess.run([shutil.which("yosys"), "-q", "-p", cmd], capture_output=True, text=True).stdout
        ff = sum(int(ln.split()[1]) for ln in text.splitlines() if ln.strip().startswith("FD"))
        out["fifo"][f"{depth}x{width}"] = ff
    return out


@pytest.fixture(scope="module")
def recorded():
    return json.loads(DATA.read_text())


@pytest.mark.parametrize("name", sorted(designs()))
def test_dag_ff_equal_recorded_yosys_and_lut_close(recorded, name):
    """FF exactly the recorded yosys count, LUT within ``LUT_TOL``, forks/FIFOs present in the features."""
    build, pipeline = designs()[name]
    g = build()
    row = recorded["designs"][name]
    assert row["ir"] == _ir_hash(g, pipeline), f"{name}: the design changed; re-record the fixture"
    tgt = load_target("xc7")
    assert recorded["script"] == tgt["synth"]["script"], "xc7 script changed: re-record the fixture"
    r = fpga(g, tgt, pipeline=pipeline)
    meas = row["counts"]
    assert r["total"]["FF"] == meas["FF"], f"{name}: model {r['total']['FF']} FF, yosys {meas['FF']}"
    err = (r["total"]["LUT"] - meas["LUT"]) / meas["LUT"]
    assert abs(err) <= LUT_TOL, f"{name}: model {r['total']['LUT']} LUT, yosys {meas['LUT']} ({100 * err:+.1f} %)"
    feats = [lay["features"] for lay in r["layers"]]
    assert sum(f.get("fork_flags", 0) for f in feats) >= 2, name
    assert any(lay["style"] == "pixel" for lay in r["layers"]), name


@pytest.mark.parametrize("name", sorted(designs()))
def test_dag_latency_equals_the_manifest(name, tmp_path):
    """The model's latency is the emitted rtl.json's (``rtl.timing.dag_timing``, itself equal to Icarus in
    tests/rtl/test_latency_stream.py), exact; per-layer levels and adders equal the manifest's."""
    from hwq.rtl import emit

    build, pipeline = designs()[name]
    g = build()
    emit(g, tmp_path, pipeline=pipeline, tb_vectors=0)
    man = json.loads((tmp_path / "rtl.json").read_text())
    r = fpga(g, "xc7", pipeline=pipeline)
    assert (r["total"]["latency"], r["total"]["latency_exact"]) == (man["latency"], True)
    assert [lay["name"] for lay in r["layers"]] == [lay["name"] for lay in man["layers"]]
    assert [lay["levels"] for lay in r["layers"]] == [lay["levels"] for lay in man["layers"]]
    assert [lay["adders"] for lay in r["layers"]] == [lay["adders"] for lay in man["layers"]]


def test_fifo_ctrl_bits_equal_recorded_yosys(recorded):
    """``hwq_fifo`` alone: wr, rd, read-port address and count registers, storage in LUTRAM (no FF)."""
    from hwq.cost.rtl_dag import fifo_ctrl_bits

    for size, ff in recorded["fifo"].items():
        depth = int(size.split("x")[0])
        assert fifo_ctrl_bits(depth) == ff, f"hwq_fifo {size}: model {fifo_ctrl_bits(depth)}, yosys {ff}"


@pytest.mark.slow
def test_dag_ff_equal_yosys_live(tmp_path):
    """Live: the residual Add DAG emitted and synthesised now (about 25 s CPU) equals the model."""
    require_tool("yosys", "synthesis counts of emitted Verilog")
    from hwq.cost.calibrate import count_cells
    from hwq.rtl import emit

    build, pipeline = designs()["dag_residual_add"]
    g = build()
    emit(g, tmp_path, pipeline=pipeline, tb_vectors=0)
    tgt = load_target("xc7")
    got = count_cells(_synth(tmp_path, tgt["synth"]["script"]), tgt["synth"])
    assert fpga(g, tgt, pipeline=pipeline)["total"]["FF"] == got["FF"]


def compare() -> list[str]:
    """Markdown rows: per design the recorded yosys FF / LUT, the model before ``rtl_dag`` (the chain
    planner: branching region as one parallel layer) and now, and the latency (rtl.json's = the model's)."""
    import hwq.cost.rtl_model as rm

    rec = json.loads(DATA.read_text())["designs"]
    rows = [
        "| design | yosys FF | FF before | FF now | yosys LUT | LUT before | LUT now | latency before / now |",
        "|---|---|---|---|---|---|---|---|",
    ]
    dag = rm._emitted_as_dag
    for name, (build, pipeline) in designs().items():
        g, y = build(), rec[name]["counts"]
        try:
            rm._emitted_as_dag = lambda graph: False
            old = fpga(g, "xc7", pipeline=pipeline)["total"]
        finally:
            rm._emitted_as_dag = dag
        new = fpga(g, "xc7", pipeline=pipeline)["total"]

        def err(v: int, m: int) -> str:
            return f"{100 * (v - m) / m:+.1f} %"

        rows.append(
            f"| {name} | {y['FF']} | {old['FF']} ({old['FF'] - y['FF']:+d}) | {new['FF']} ({new['FF'] - y['FF']:+d}) "
            f"| {y['LUT']} | {old['LUT']} ({err(old['LUT'], y['LUT'])}) | {new['LUT']} ({err(new['LUT'], y['LUT'])}) "
            f"| {old['latency']} (not exact) / {new['latency']} (exact: {new['latency_exact']}) |"
        )
    return rows


if __name__ == "__main__":
    if "--compare" in sys.argv:
        print("\n".join(compare()))
    if "--record" in sys.argv:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            DATA.write_text(json.dumps(record(Path(d)), indent=1) + "\n")
        print(f"wrote {DATA}")
