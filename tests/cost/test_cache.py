"""The exact RTL model's per-layer cache and the calibration cache key: reuse only what cannot have changed."""

from __future__ import annotations

import numpy as np

from hwq.cost import rtl_model
from hwq.cost.calibrate import _verilog_text, accuracy, design_set
from hwq.cost.rtl_model import cache_info, clear_cache
from hwq.cost.rtl_plan import plan_rtl

from .graphs import dense_graph, random_dense


def _mlp(seed: int = 0):
    """Two dense layers (8 -> 6 -> 4) with a ReLU between: layer 2's input ranges come from layer 1."""
    from tests.rtl.graphs import mlp

    return mlp([8, 6, 4], "fixed<8,3>", "fixed<6,1>", "fixed<8,3,RND,SAT>", "ufixed<8,3,RND,SAT>", seed, "m")


def _dicts(feats):
    return [f.as_dict() for f in feats]


def test_cached_features_equal_a_fresh_build_and_are_not_aliased():
    g = _mlp()
    clear_cache()
    fresh = _dicts(plan_rtl(g, pipeline=1, cache=False))
    assert cache_info() == {"hits": 0, "misses": 0, "disk_hits": 0, "size": 0}  # cache=False: not used
    first = plan_rtl(g, pipeline=1)
    first[0].add_bits = -1  # mutating a result must not reach the cache
    first[0].extra["x"] = 1
    again = plan_rtl(g, pipeline=1)
    assert _dicts(again) == fresh
    assert cache_info()["hits"] == len(fresh)


def test_a_changed_weight_or_option_misses_and_matches_an_uncached_build():
    g = _mlp()
    clear_cache()
    plan_rtl(g, pipeline=1)
    last = g.ops[-1] if g.ops[-1].kind == "dense" else [op for op in g.ops if op.kind == "dense"][-1]
    w = last.weight.copy()
    w.flat[0] = 0 if w.flat[0] else 1
    last.weight = w
    before = cache_info()
    got = _dicts(plan_rtl(g, pipeline=1))
    after = cache_info()
    assert after["misses"] == before["misses"] + 1  # only the changed layer is rebuilt
    assert got == _dicts(plan_rtl(g, pipeline=1, cache=False))
    plan_rtl(g, pipeline=2)  # another pipeline depth: every layer is a miss
    assert cache_info()["misses"] == after["misses"] + len(got)


def test_the_same_layer_in_another_graph_and_names_hits():
    clear_cache()
    w = np.arange(12).reshape(3, 4) % 5 - 2
    a = _dicts(plan_rtl(dense_graph(w, name="a")))
    b = _dicts(plan_rtl(dense_graph(w, name="b")))
    assert cache_info()["hits"] == len(b)
    assert [{k: v for k, v in d.items() if k != "name"} for d in a] == [
        {k: v for k, v in d.items() if k != "name"} for d in b
    ]


def test_cache_is_bounded(monkeypatch):
    clear_cache()
    monkeypatch.setattr(rtl_model, "CACHE_SIZE", 2)
    for seed in range(4):
        plan_rtl(random_dense(2, 3, seed))
    assert cache_info()["size"] == 2


def test_verilog_key_ignores_comments_but_not_logic(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    (a / "m.v").write_text("// header v1\nmodule m; assign y = x + 1; /* note */ endmodule\n")
    (b / "m.v").write_text("// header v2, another command\n\nmodule m; assign y = x + 1;  endmodule\n")
    (c / "m.v").write_text("// header v1\nmodule m; assign y = x + 2; endmodule\n")
    assert _verilog_text(a) == _verilog_text(b)
    assert _verilog_text(a) != _verilog_text(c)


def test_design_set_has_every_format_family_and_minifloat_is_held_out():
    ds = design_set()
    families = {d["format"].split("<")[0] for d in ds}
    assert {"fixed", "csd", "pow2", "float"} <= families
    assert not any(d["fit"] for d in ds if d["format"].startswith("float"))
    assert len([d for d in ds if not d["fit"]]) >= 60


def test_pairs_closer_than_the_tie_threshold_are_not_counted():
    def design(group, lut, pred):
        return {"group": group, "fit": False, "measured": {"LUT": lut}, "p": pred}

    # group a: 100 vs 101 is a tie at 5 %, 100 vs 200 is ordered; group b: 100 vs 150 ordered wrongly
    ds = [design("a", 100, 10), design("a", 101, 9), design("a", 200, 20), design("b", 100, 2), design("b", 150, 1)]
    acc = accuracy(ds, "p", tie=5.0)
    assert acc["pairs_ordered"] == "2/3"
    by = {g["group"]: g for g in acc["groups"]}
    assert by["a"]["pairs_ordered"] == "2/2" and by["b"]["pairs_ordered"] == "0/1"
    assert by["b"]["spearman"] == -1.0 and acc["spearman_within_min"] == -1.0


def test_folder_cache_is_shared_across_processes_and_equal(tmp_path, monkeypatch):
    from tests.rtl.graphs_stream import stream_cnn

    monkeypatch.setenv("HWQ_COST_LAYER_CACHE", str(tmp_path))
    for g in (_mlp(3), stream_cnn()):
        fresh = _dicts(plan_rtl(g, pipeline=2, cache=False))
        clear_cache()
        plan_rtl(g, pipeline=2)  # builds and writes every layer
        assert cache_info()["disk_hits"] == 0
        clear_cache()  # a new process: memory empty, the folder kept
        got = _dicts(plan_rtl(g, pipeline=2))
        assert cache_info()["disk_hits"] == cache_info()["hits"] == len(fresh)
        assert got == fresh
    (sub,) = tmp_path.iterdir()  # one folder per emitter source hash
    assert len(list(sub.glob("*.json"))) >= 2
