"""End-to-end ``hwq explore`` on a tiny MLP (one hidden layer of 8, 2 float epochs, a small space):
outputs, reproducibility across worker counts and executors, resume, and refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hwq.cli import main
from hwq.explore import ExploreError, explore

from ..tools import require_module

CFG = {"name": "tiny-mlp", "model": {"arch": "mlp", "hidden": [8]}, "train": {"epochs": 2}}
SPACE = {"space": {"weight": ["fixed<3>", "fixed<8>", "csd<1>", "e2m1"], "act": [4, 8], "acc": [8, 12]}}
KW = dict(
    target="xc7",
    space=SPACE,
    seed=1,
    pop_size=6,
    generations=2,
    refine_epochs=1,
    ilp_budgets=6,
    probes=8,
    max_refine=4,
    progress="none",
    log=lambda *a: None,
)
CONFIG_TOML = """name = "tiny-mlp"
[model]
arch = "mlp"
hidden = [8]
[train]
epochs = 2
"""


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("ex") / "run1"
    doc = explore(CFG, out, workers=1, **KW)
    return out, doc


def test_outputs(first):
    out, doc = first
    for f in ("pareto.json", "pareto.csv", "pareto.png", "chosen/graph.json", "chosen/config.json", "timing.json"):
        assert (out / f).is_file(), f
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "pareto.json").read_text()) == doc
    pts = {p["id"]: p for p in doc["points"]}
    assert set(doc["front"]) <= set(pts) and doc["chosen"] in doc["front"]
    assert set(doc["baselines"]) == {"fixed8", "fixed6", "fixed4", "csd1", "csd2", "csd3", "e4m3", "e2m1"}
    for p in doc["points"]:
        assert len(p["config"]) == 2 and {"luts", "adders", "weight_bits"} <= set(p["costs"])
        assert p["config"][1]["act"] is None  # the output layer has no activation
    # the front is non-dominated on (test accuracy, luts) among the refined points, and every refined
    # point off the front is dominated by a front point
    refined = [p for p in doc["points"] if p["refined"]]
    for p in refined:
        r = p["refined"]
        doms = [
            q
            for q in refined
            if q["refined"]["test_accuracy"] >= r["test_accuracy"]
            and q["refined"]["costs"]["luts"] <= r["costs"]["luts"]
            and (q["refined"]["test_accuracy"], q["refined"]["costs"]["luts"])
            != (r["test_accuracy"], r["costs"]["luts"])
        ]
        assert r["dominated"] == bool(doms), p["id"]
        assert (p["id"] in doc["front"]) == (not r["dominated"])
    lines = (out / "pareto.csv").read_text().splitlines()
    assert lines[0].startswith("id,source,baseline,fc1.weight") and len(lines) == 1 + len(doc["points"])
    sens = doc["sensitivity"]
    assert set(sens["hessian_trace"]) == {"fc1", "fc2"} and sens["hessian_trace"]["fc1"]["n"] == 64 * 8
    assert set(sens["measured_loss_change"]["fc1"]["weight"]) == {"fixed<3>", "fixed<8>", "csd<1>", "e2m1"}
    assert doc["ilp"]["solutions"] >= 1 and doc["evaluations"]["qat"] == len(refined)


def test_chosen_graph_is_the_measured_model(first):
    """The chosen graph.json, run by the IR interpreter on the test split, has the reported accuracy."""
    from hwq.data import load_digits_split
    from hwq.ir import run
    from hwq.ir.serialize import load

    out, doc = first
    g = load(out / "chosen" / "graph.json")
    d = load_digits_split()
    logits = np.asarray(run(g, d.x_test.astype(np.float64)).outputs()[0]).reshape(len(d.x_test), -1)
    acc = float((logits.argmax(1) == d.y_test).mean() * 100)
    chosen = next(p for p in doc["points"] if p["id"] == doc["chosen"])
    assert round(acc, 4) == chosen["refined"]["test_accuracy"]
    cfg = json.loads((out / "chosen" / "config.json").read_text())
    assert cfg["quant"]["layers"]["fc1"]["weight"]["kind"] in ("fixed", "csd", "float")


def test_refined_points_priced_by_the_exact_model(first):
    """The final front is taken on the calibrated exact model (``refine_cost="exact"``): the chosen point's
    reported LUTs are ``hwq.cost.fpga`` of its graph (and its calibrated_costs), while the PTQ search
    points carry the fast path's figure."""
    import hwq.cost as hc
    from hwq.ir.serialize import load

    out, doc = first
    assert doc["cost_model"] == {"search": "hwq.cost.fpga(exact=False)", "refined": "hwq.cost.fpga"}
    g = load(out / "chosen" / "graph.json")
    chosen = next(p for p in doc["points"] if p["id"] == doc["chosen"])
    exact = hc.fpga(g, "xc7")["total"]["LUT"]
    assert chosen["refined"]["costs"]["luts"] == exact == chosen["refined"]["calibrated_costs"]["LUT"]


def test_same_seed_same_bytes_with_two_workers(first, tmp_path):
    out, _ = first
    out2 = tmp_path / "run2"
    explore(CFG, out2, workers=2, **KW)
    assert (out2 / "pareto.json").read_bytes() == (out / "pareto.json").read_bytes()
    assert (out2 / "pareto.csv").read_bytes() == (out / "pareto.csv").read_bytes()


def test_resume_recomputes_nothing(first, tmp_path):
    out, _ = first
    out3 = tmp_path / "run3"
    shutil.copytree(out, out3)
    (out3 / "pareto.json").unlink()  # an interrupted run: cache only
    explore(CFG, out3, workers=1, resume=True, **KW)
    assert json.loads((out3 / "timing.json").read_text())["evaluations_computed"] == 0
    assert (out3 / "pareto.json").read_bytes() == (out / "pareto.json").read_bytes()


def test_existing_folder_refused_without_resume_or_force(first, capsys, tmp_path):
    out, _ = first
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(CONFIG_TOML)
    rc = main(["explore", "--config", str(cfg), "--out", str(out), "--no-progress"])
    assert rc == 2 and "not empty" in capsys.readouterr().err


def test_impossible_budget_names_smallest_cost(first, tmp_path, capsys):
    out, _ = first
    out4 = tmp_path / "run4"
    shutil.copytree(out / "cache", out4 / "cache")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(CONFIG_TOML)
    space = tmp_path / "space.toml"
    space.write_text('[space]\nweight = ["fixed<3>", "fixed<8>", "csd<1>", "e2m1"]\nact = [4, 8]\nacc = [8, 12]\n')
    args = ["explore", "--config", str(cfg), "--space", str(space), "--seed", "1", "--out", str(out4), "--resume"]
    rc = main(args + ["--budget", "LUT=10", "--no-progress", "--generations", "2", "--population", "6"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "hwq explore: error: --budget luts=10 is impossible: the smallest achievable luts" in err
    smallest = float(err.split("is ")[-1].split()[0])
    assert smallest > 10
    with pytest.raises(ExploreError, match="impossible"):
        explore(CFG, out4, workers=1, resume=True, budgets="LUT=10", **KW)


@pytest.mark.parametrize(
    "extra, msg",
    [
        (["--target", "xc9"], "--target xc9: unknown target"),
        (["--budget", "SRAM=5"], "--budget SRAM: unknown cost for target xc7"),
        (["--space", "SPACE"], "space.layers.fc7: unknown layer"),
    ],
)
def test_bad_input_names_the_key(tmp_path, capsys, extra, msg):
    space = tmp_path / "space.toml"
    space.write_text('[space]\nweight = ["fixed4"]\n[space.layers.fc7]\nweight = ["fixed8"]\n')
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(CONFIG_TOML)
    extra = [str(space) if e == "SPACE" else e for e in extra]
    rc = main(["explore", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress", *extra])
    assert rc == 2
    assert msg in capsys.readouterr().err


@pytest.mark.slow
def test_ray_local_cluster_gives_the_same_front(first, tmp_path):
    require_module("ray", "the Ray executor", extra="explore-ray")
    out, _ = first
    out5 = tmp_path / "ray"
    explore(CFG, out5, executor="ray", workers=2, **KW)
    assert (out5 / "pareto.json").read_bytes() == (out / "pareto.json").read_bytes()
