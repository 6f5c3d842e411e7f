"""The one backend shape (``hwq.backend.OpRegistry``): registries, ``supports(op, graph)`` and refusals that
name the op, for the HLS and Verilog emitters (the MCU emitter is checked where it registers ops)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import hwq.hls as hls
import hwq.rtl as rtl
from hwq.backend import OpRegistry, all_of, no_input_offset
from hwq.ir.random_graph import random_graph

BACKENDS = [pytest.param(hls, id="hls"), pytest.param(rtl, id="rtl")]


def _op(graph, kind):
    return next(o for o in graph.ops if o.kind == kind)


def test_registry_refuses_unknown_and_duplicate_kinds():
    reg = OpRegistry("toy", label="the toy emitter")
    reg.register("relu")(lambda op: "relu")
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("relu")(lambda op: "again")
    op = SimpleNamespace(name="n1", kind="softmax")
    assert reg.supports(op, None) == "not supported by the toy emitter (supported: relu)"
    with pytest.raises(ValueError, match=r"op 'n1' \(softmax\): not supported by the toy emitter"):
        reg.check(op, None)
    both = all_of(None, lambda o, g: None, no_input_offset)
    assert both(SimpleNamespace(input_offset=0), None) is None
    assert "input_offset 3" in both(SimpleNamespace(input_offset=3), None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_plain_ir_kind_is_registered(backend):
    """Every IR op kind that random graphs draw by default is supported by HLS and RTL."""
    from hwq.ir.random_graph import KINDS

    assert set(KINDS) <= set(backend.REGISTRY.kinds())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["dense", "conv1d", "conv2d"])
def test_input_offset_is_refused_by_name(backend, kind, tmp_path):
    for seed in range(20):
        g = random_graph(seed, ops=[kind], offsets=True, max_width=8)
        op = _op(g, kind)
        if op.input_offset:
            break
    else:
        pytest.fail("no random graph with a non-zero input_offset")
    reason = backend.supports(op, g)
    assert reason is not None and "input_offset" in reason
    with pytest.raises(ValueError, match=rf"op '{op.name}' \({kind}\): input_offset"):
        backend.emit(g, tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "kind, op_kind, words",
    [
        ("add_dyadic", "add_dyadic", "not supported by"),
        ("mul_dyadic", "mul_dyadic", "not supported by"),
        ("avgpool_cmsis", "avgpool", "mode 'cmsis'"),
        ("requantize_s64", "requantize", "mode 'dyadic_s64'"),
    ],
)
def test_cmsis_kinds_are_refused_until_implemented(backend, kind, op_kind, words):
    g = random_graph(1, ops=[kind])
    op = _op(g, op_kind)
    reason = backend.supports(op, g)
    assert reason is not None and words in reason, reason


@pytest.mark.parametrize("backend", BACKENDS)
def test_supported_ops_give_none(backend):
    g = random_graph(3, ops=["dense", "relu", "requantize"])
    assert backend.REGISTRY.unsupported(g) == {}
