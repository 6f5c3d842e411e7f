"""Brevitas and QONNX imports equal Brevitas's own forward pass bit for bit (integers, 1,000 inputs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: E402

from ..tools import require_module  # noqa: E402

require_module("brevitas", "the Brevitas importer", extra="interop")

from hwq.interop import InteropError, brevitas_reference, from_brevitas, from_qonnx  # noqa: E402
from hwq.ir import run  # noqa: E402
from hwq.ir.serialize import dumps, loads  # noqa: E402

from .models import brevitas_cnn, brevitas_mlp, train_briefly  # noqa: E402

CASES = {"mlp": (brevitas_mlp, (16,), 5), "cnn": (brevitas_cnn, (1, 8, 8), 4)}


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request):
    build, shape, n_out = CASES[request.param]
    model = train_briefly(build(), shape, n_out, seed=1)
    x = 2.0 * torch.randn(1000, *shape, generator=torch.Generator().manual_seed(7))
    return request.param, model, x


def _check_equal(graph, model, x):
    xin, expected = brevitas_reference(model, graph, x)
    got = run(graph, {graph.inputs[0]: xin}).outputs()[0]
    assert got.dtype.kind in "iu" and expected.dtype.kind in "iu"
    assert got.shape == expected.shape
    bad = int((np.asarray(got) != expected).sum())
    assert bad == 0, f"{bad} output integers differ from Brevitas"
    # the outputs are not trivial: many distinct values, both signs
    assert len(np.unique(expected)) > 50 and expected.min() < 0 < expected.max()


def test_brevitas_import_is_exact(trained):
    name, model, x = trained
    graph = from_brevitas(model, x[:4], name=f"brev_{name}")
    _check_equal(loads(dumps(graph)), model, x)
    kinds = [op.kind for op in graph.ops]
    assert kinds.count("dense") + kinds.count("conv2d") == (3 if name == "mlp" else 3)


def test_qonnx_import_is_exact(trained, tmp_path):
    require_module("onnx", "the QONNX importer", extra="interop")
    from brevitas.export import export_qonnx

    name, model, x = trained
    path = tmp_path / f"{name}.onnx"
    export_qonnx(model, input_t=x[:1], export_path=str(path))
    graph = from_qonnx(path)
    _check_equal(graph, model, x)
    ref = from_brevitas(model, x[:4])
    assert [op.kind for op in graph.ops if op.kind != "requantize"] == [
        op.kind for op in ref.ops if op.kind != "requantize"
    ]


def test_a_wrong_graph_is_caught(trained):
    """The comparison can fail: flipping one weight integer changes some outputs."""
    _, model, x = trained
    graph = from_brevitas(model, x[:4])
    op = next(o for o in graph.ops if o.kind in ("dense", "conv2d"))
    op.weight.flat[0] += 1
    xin, expected = brevitas_reference(model, graph, x)
    got = run(graph, {graph.inputs[0]: xin}).outputs()[0]
    assert (np.asarray(got) != expected).any()


def test_float_scales_are_refused_naming_the_layer():
    import brevitas.nn as qnn
    from brevitas import quant as q

    model = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantLinear(8, 4, weight_quant=q.Int8WeightPerTensorFloat, bias=False, return_quant_tensor=True),
    )
    with pytest.raises(InteropError, match=r"'1'.*QuantLinear.*not a power of two"):
        from_brevitas(model, torch.randn(2, 8))


def test_float_bias_off_the_grid_is_refused():
    import brevitas.nn as qnn
    from brevitas import quant as q

    model = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        qnn.QuantLinear(8, 4, weight_quant=q.Int8WeightPerTensorFixedPoint, bias=True, return_quant_tensor=True),
    )
    with torch.no_grad():
        model[1].bias.copy_(torch.tensor([0.1, -0.3, 0.7, 1e-3]))
    with pytest.raises(InteropError, match=r"float32.*bias_quant"):
        from_brevitas(model, torch.randn(2, 8))


def test_unsupported_module_is_refused_naming_it():
    import brevitas.nn as qnn
    from brevitas import quant as q

    model = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=q.Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        torch.nn.Tanh(),
    )
    with pytest.raises(InteropError, match=r"module '1' \(Tanh\)"):
        from_brevitas(model, torch.randn(2, 8))


def test_qonnx_corrupt_file_is_named(tmp_path):
    require_module("onnx", "the QONNX importer", extra="interop")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\xffnot a protobuf")
    with pytest.raises(InteropError, match="bad.onnx"):
        from_qonnx(bad)
