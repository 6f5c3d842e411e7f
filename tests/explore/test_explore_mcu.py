"""``hwq explore`` on a Cortex-M target: every candidate is a CMSIS-NN profile model (per-layer int8/int4
weights), priced by ``hwq.cost.mcu``; the front trades instructions against flash and the chosen graph is
accepted by ``hwq emit mcu`` and matches the IR interpreter exactly in ``hwq verify mcu --target host``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwq.cli import main
from hwq.explore import ExploreError, explore

from ..tools import require_tool

CFG = {"name": "digits-mlp", "model": {"arch": "mlp", "hidden": [64, 32]}, "train": {"epochs": 5}}
SPACE = {"space": {"weight": ["int4", "int8"], "act": [8], "acc": [16]}}
KW = dict(
    target="cortex-m4",
    space=SPACE,
    seed=0,
    workers=1,
    pop_size=8,
    generations=2,
    refine_epochs=1,
    ilp_budgets=6,
    probes=4,
    max_refine=8,
    progress="none",
    log=lambda *a: None,
)

pytestmark = pytest.mark.slow  # ~40 s: a float MLP, the 8 PTQ candidates, up to 8 QAT refinements


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("exm") / "mlp-m4"
    return out, explore(CFG, out, **KW)


def test_front_trades_instructions_against_flash(run):
    """>= 3 refined front points; along the front, more instructions always buy less flash (int4 kernels
    are slower but smaller) or more test accuracy, and every point has a distinct per-layer int8/int4
    choice."""
    _, doc = run
    by_id = {p["id"]: p for p in doc["points"]}
    front = [by_id[i] for i in doc["front"]]
    assert len(front) >= 3
    ins = [p["refined"]["costs"]["instructions"] for p in front]
    flash = [p["refined"]["costs"]["flash"] for p in front]
    assert ins == sorted(ins) and len(set(ins)) == len(ins)
    acc = [p["refined"]["test_accuracy"] for p in front]
    assert all(f1 < f0 or a1 > a0 for f0, f1, a0, a1 in zip(flash, flash[1:], acc, acc[1:])), (ins, flash, acc)
    assert flash[-1] < flash[0]  # the dearest in instructions (all-int4) is the smallest in flash
    assert len({json.dumps(p["config"]) for p in front}) == len(front)
    for p in front:
        assert {c["weight"] for c in p["config"]} <= {"int8", "int4"}


def test_costs_are_hwq_cost_mcu_of_the_cmsis_graph(run):
    """The chosen graph is a CMSIS-NN profile graph whose weight formats follow the chosen configuration,
    and the reported costs are exactly ``hwq.cost.mcu`` of it."""
    import hwq.cost as hc
    from hwq.ir.serialize import load

    out, doc = run
    g = load(out / "chosen" / "graph.json")
    chosen = next(p for p in doc["points"] if p["id"] == doc["chosen"])
    want = {n: c["weight"] for n, c in zip(("fc1", "fc2", "fc3"), chosen["config"])}
    assert g.meta["cmsis_nn"]["profile"] == "cmsis-nn"
    assert {op.name: f"int{op.weight_fmt.width}" for op in g.ops if op.kind == "dense"} == want
    t = hc.mcu(g, "cortex-m4")["total"]
    c = chosen["refined"]["costs"]
    assert (c["instructions"], c["flash"], c["sram"]) == (t["instructions"], t["flash_bytes"], t["peak_sram_bytes"])
    cfg = json.loads((out / "chosen" / "config.json").read_text())
    assert cfg["quant"]["profile"] == "cmsis-nn"
    assert {n: v["weights"] for n, v in cfg["quant"]["layers"].items()} == want


def test_chosen_graph_is_the_measured_model(run):
    """The IR interpreter on the chosen graph gives the reported test accuracy."""
    from hwq.data import load_digits_split
    from hwq.ir import run as ir_run
    from hwq.ir.serialize import load

    out, doc = run
    g = load(out / "chosen" / "graph.json")
    d = load_digits_split()
    logits = np.asarray(ir_run(g, d.x_test.astype(np.float64)).outputs()[0]).reshape(len(d.x_test), -1)
    acc = float((logits.argmax(1) == d.y_test).mean() * 100)
    chosen = next(p for p in doc["points"] if p["id"] == doc["chosen"])
    assert round(acc, 4) == chosen["refined"]["test_accuracy"]


def test_chosen_graph_emits_and_verifies_on_host(run, tmp_path, capsys):
    """``hwq emit mcu`` accepts the chosen graph and ``hwq verify mcu --target host`` finds 0 mismatches."""
    require_tool("gcc", "hwq verify mcu --target host")
    out, _ = run
    dst = tmp_path / "mcu"
    assert main(["emit", "mcu", "--ir", str(out / "chosen" / "graph.json"), "--out", str(dst)]) == 0
    assert main(["verify", "mcu", str(dst), "--target", "host", "--vectors", "100"]) == 0
    assert "100 vectors, 0 mismatches" in capsys.readouterr().out


def test_non_cmsis_weight_refused_on_mcu(tmp_path):
    """A weight format the CMSIS-NN profile has not is refused naming the layer and format."""
    small = {"name": "t", "model": {"arch": "mlp", "hidden": [8]}, "train": {"epochs": 1}}
    bad = {"space": {"weight": ["int8", "fixed<4>"], "act": [8], "acc": [16]}}
    with pytest.raises(ExploreError, match=r"space layer fc1: weight fixed<4> not available on cortex-m4"):
        explore(small, tmp_path / "x", **{**KW, "space": bad})
