"""macc_bits: the adders yosys's alumacc merges into multi-operand $macc cells (``rtl_model.macc_merges``)."""

from __future__ import annotations

import json
import subprocess

import numpy as np

from hwq.cost.calibrate import make_design
from hwq.cost.rtl_plan import plan_rtl
from hwq.rtl import emit
from hwq.rtl.tools import sources

from ..tools import require_tool
from .graphs import dense_graph


def _one_output_sum(n: int = 16):
    """One output summing ``n`` inputs with power-of-two weights: a plain adder tree, no sharing."""
    w = np.array([[1 << (i % 3) for i in range(n)]], dtype=np.int64)
    return dense_graph(w, w_fmt="fixed<6,1>", relu=False)


def test_unsigned_sums_that_widen_are_never_merged():
    # every adder of a plain tree is one bit wider than its operands (the emitter's unsigned sums of
    # sign-extended operands can overflow their own width): alumacc keeps each one its own carry chain
    (flat,) = plan_rtl(_one_output_sum(), pipeline=0, cache=False)
    assert flat.add_bits > 0 and flat.macc_bits == 0


def _yosys_merges(folders: list) -> list[int]:
    """Adders yosys 0.23 merges into $macc cells, per emitted folder: sum over $macc cells of (ports - 2),
    after the coarse part of ``synth`` (where alumacc runs)."""
    script = []
    outs = []
    for k, f in enumerate(folders):
        top, files = sources(f)
        out = f.parent / f"coarse{k}.json"
        outs.append(out)
        reads = " ".join(str(p) for p in files)
        script.append(f"design -reset; read_verilog {reads}; synth -flatten -top {top} -run :fine; write_json {out}")
    subprocess.run(["yosys", "-q", "-p", "; ".join(script)], check=True, capture_output=True, timeout=600)
    res = []
    for out in outs:
        mods = json.loads(out.read_text())["modules"]
        mod = max(mods.values(), key=lambda m: len(m["cells"]))
        cells = [c for c in mod["cells"].values() if c["type"] == "$macc"]
        res.append(sum(len(c["connections"]["A"]) // len(c["connections"]["Y"]) - 2 for c in cells))
    return res


def test_predicted_merges_equal_yosys_macc_cells(tmp_path):
    require_tool("yosys", "counts the $macc cells alumacc builds")
    # integer weights: the bias add is as wide as the last sum, so alumacc merges them (and more)
    g = make_design("dense", (16,), 6, 0, "fixed<5,5>", seed=22)
    folders, predicted = [], []
    for pipeline in (0, 1):
        (f,) = plan_rtl(g, pipeline=pipeline, cache=False)
        predicted.append(f.macc_merges)
        d = tmp_path / f"p{pipeline}"
        emit(g, d, pipeline=pipeline, tb_vectors=0)
        folders.append(d)
    got = _yosys_merges(folders)
    assert got[0] > got[1] >= 0  # a register between two adders stops the merge
    assert predicted == got
