"""Trained models (every example config, shortened): emulator integers == hwq.ir.run on the whole digits
test split, after QAT or PTQ, and after a JSON round trip of the IR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hwq.ir import run
from hwq.ir.lower import lower
from hwq.ir.serialize import dumps, loads
from hwq.nn import emulate_raw
from hwq.train import load_config, resolve_config
from hwq.train.loop import accuracy, quantize_from_float, train_float

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONFIGS = ["fixed8_qat", "fixed4_learned", "fixed4_minmax", "csd2_qat", "e4m3_ptq", "e2m1w_qat"]


def _short(cfg: dict) -> dict:
    cfg["train"]["epochs"] = 4
    cfg["train"]["qat_epochs"] = 2
    cfg["ptq"]["samples"] = 128
    return cfg


@pytest.fixture(scope="module")
def floats():
    """One short float training per architecture, shared by the quantised variants."""
    torch.set_num_threads(1)
    out = {}
    for arch in ("mlp", "cnn"):
        cfg = _short(resolve_config(load_config(EXAMPLES / f"{arch}_fixed8_qat.toml")))
        out[arch] = train_float(cfg)
    return out


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
@pytest.mark.parametrize("name", CONFIGS)
def test_trained_model_emulator_equals_interpreter(floats, arch, name):
    cfg = _short(resolve_config(load_config(EXAMPLES / f"{arch}_{name}.toml")))
    fm, data, acc_float = floats[arch]
    qm = quantize_from_float(cfg, fm, data)
    graph = loads(dumps(lower(qm, torch.from_numpy(data.x_test[:4]))))
    emu = emulate_raw(qm, data.x_test)[0]
    ref = np.asarray(run(graph, data.x_test.astype(np.float64)).outputs()[0])
    assert emu.shape == (len(data.y_test), 10)
    mism = int((emu != ref).any(axis=1).sum())
    assert mism == 0, f"{mism} of {len(emu)} test vectors differ"
    # the quantised model is a working classifier, and its argmax is the IR's
    acc = accuracy(qm, data.x_test, data.y_test)
    assert acc > 60.0
    assert np.array_equal(ref.argmax(1), emu.argmax(1))
    if name.startswith("csd"):
        from hwq.nn.quantizers import csd_digit_count

        for op in graph.ops:
            if hasattr(op, "weight"):
                assert csd_digit_count(op.weight).max() <= 2, op.name
    if name.startswith("e2m1"):
        for op in graph.ops:
            if hasattr(op, "weight"):
                assert str(op.weight_fmt).startswith("e2m1") or "float<2,1" in str(op.weight_fmt), op.weight_fmt


def test_learned_width_with_bit_penalty_saves_bits_and_stays_exact(floats):
    """QAT with learned widths: a bit-cost penalty gives fewer stored weight bits; still bit-exact."""
    lw = {"kind": "fixed", "width": 8, "int_bits": "learn", "learn_width": True}
    fm, data, _ = floats["mlp"]
    bits = {}
    for pen in (0.0, 0.02):
        cfg = _short(resolve_config({"quant": {"weight": lw, "act": {**lw, "signed": False}}}))
        cfg["train"]["qat_epochs"] = 4
        cfg["train"]["bit_penalty"] = pen
        qm = quantize_from_float(cfg, fm, data)
        g = lower(qm, torch.from_numpy(data.x_test[:4]))
        bits[pen] = sum(int(op.weight.size) * op.weight_fmt.width for op in g.ops if hasattr(op, "weight"))
        emu = emulate_raw(qm, data.x_test)[0]
        assert np.array_equal(emu, np.asarray(run(g, data.x_test.astype(np.float64)).outputs()[0]))
        assert accuracy(qm, data.x_test, data.y_test) > 60.0
    assert bits[0.02] < bits[0.0]
