"""Bit-exact C-simulation of hand-built models: fixed-point MLPs (8-bit, 4-bit) and a CNN."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.formats import parse
from hwq.ir import Graph, run
from hwq.ir.ops import Conv2d, Dense, Flatten, ReLU

from .conftest import check_bit_exact
from .graphs import merge, mini_mlp, mlp


@pytest.fixture(scope="module")
def models_run(csim_cache, tmp_path_factory):
    """The hand-built models side by side in one project (one g++ build), 2,000 vectors through each."""
    graphs = {
        "mlp8": mlp(8, seed=1, name="mlp8"),
        "mlp4": mlp(4, seed=2, name="mlp4"),
        "csd2": mlp(8, seed=3, name="csd2", csd=2),
        "minifloat": mini_mlp(seed=4),
        "cnn": cnn(),
    }
    merged = merge(list(graphs.values()), "models")
    bad, first, extra, per_output = check_bit_exact(merged, tmp_path_factory.mktemp("models") / "prj", csim_cache)
    by_model = {name: per_output[f"g{k}_{graphs[name].outputs[0]}"] for k, name in enumerate(graphs)}
    return by_model, first, extra


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp8", "mlp4", "csd2", "minifloat", "cnn"])
def test_model_bit_exact(models_run, model):
    by_model, first, extra = models_run
    assert extra["vectors"] == 2000
    assert by_model[model] == 0, [m for m in first if m.output.startswith(f"g{list(by_model).index(model)}_")]


def test_mlp_outputs_are_not_trivial():
    """Guard against a vacuous comparison: the model's outputs vary and use the saturating range."""
    from hwq.sim.verify import random_inputs

    g = mlp(8, seed=1, name="mlp8")
    out = run(g, random_inputs(g, 500, 0)).outputs()[0]
    assert len(np.unique(out)) > 50


def cnn(name: str = "cnn", seed: int = 0) -> Graph:
    """A digits-style CNN: 1x8x8 -> conv3x3(4, pad 1) -> relu -> maxpool2 -> conv3x3(8) -> relu -> avgpool
    -> flatten -> dense(10)."""
    from hwq.ir.ops import AvgPool, MaxPool
    from hwq.ir.ops._pool import reciprocal

    rng = np.random.default_rng(seed)
    g = Graph(name, ["img"], ["logits"])
    wf, bf = parse("fixed<6,1>"), parse("fixed<12,4>")
    g.add_tensor("img", (1, 8, 8), parse("ufixed<8,1>"))
    g.add_tensor("c1", (4, 8, 8), parse("fixed<10,4,RND,SAT>"))
    g.add_tensor("r1", (4, 8, 8), parse("ufixed<8,3,RND_CONV,SAT>"))
    g.add_tensor("p1", (4, 4, 4), parse("ufixed<8,3,RND_CONV,SAT>"))
    g.add_tensor("c2", (8, 2, 2), parse("fixed<12,5,RND_ZERO,WRAP>"))
    g.add_tensor("r2", (8, 2, 2), parse("ufixed<8,4,TRN,SAT>"))
    g.add_tensor("a2", (8, 1, 1), parse("ufixed<9,4,RND,SAT>"))
    g.add_tensor("f", (8,), parse("ufixed<9,4,RND,SAT>"))
    g.add_tensor("logits", (10,), parse("fixed<16,8>"))
    g.add_op(
        Conv2d("conv1", ["img"], "c1", weight=rng.integers(-32, 32, (4, 1, 3, 3)), bias=rng.integers(-99, 99, 4),
               weight_fmt=wf, bias_fmt=bf, acc_fmt=parse("fixed<18,6,TRN,SAT>"), padding=(1, 1, 1, 1))
    )  # fmt: skip
    g.add_op(ReLU("relu1", ["c1"], "r1"))
    g.add_op(MaxPool("pool1", ["r1"], "p1", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0)))
    g.add_op(
        Conv2d("conv2", ["p1"], "c2", weight=rng.integers(-32, 32, (8, 4, 3, 3)), bias=rng.integers(-99, 99, 8),
               weight_fmt=wf, bias_fmt=bf, acc_fmt=parse("fixed<14,6,RND,WRAP>"))
    )  # fmt: skip
    g.add_op(ReLU("relu2", ["c2"], "r2"))
    recip, rbits = reciprocal(4)
    g.add_op(AvgPool("pool2", ["r2"], "a2", kernel=(2, 2), stride=(2, 2), padding=(0, 0, 0, 0),
                     acc_fmt=parse("ufixed<12,6>"), recip=recip, recip_frac_bits=rbits))  # fmt: skip
    g.add_op(Flatten("flat", ["a2"], "f"))
    g.add_op(
        Dense("fc", ["f"], "logits", weight=rng.integers(-32, 32, (10, 8)), bias=rng.integers(-99, 99, 10),
              weight_fmt=wf, bias_fmt=bf, acc_fmt=parse("fixed<20,8>"))
    )  # fmt: skip
    g.validate()
    return g


def test_csd_model_is_multiplier_free(tmp_path):
    """The CSD layers print every product as shifted adds: no '*' outside constant index arithmetic."""
    import re

    from hwq.formats import csd_digits
    from hwq.hls import emit

    g = mlp(8, seed=3, name="csd2", csd=2)
    assert all(len(csd_digits(int(w))) <= 2 for op in g.ops if hasattr(op, "weight") for w in op.weight.ravel())
    emit(g, tmp_path)
    text = (tmp_path / "firmware" / "layers.h").read_text()
    body = re.split(r"\n(?:static )?(?:inline )?void fc0\(", text, maxsplit=1)[1].split("\n}\n", 1)[0]
    code = [re.sub(r"\[[^\]]*\]", "[]", ln.split("//")[0]) for ln in body.splitlines()]
    assert not [ln for ln in code if "*" in ln]
    assert body.count("<<") > 100 and "fc0_w" not in body
