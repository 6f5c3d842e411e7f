"""The MCU generator (hwq.mcu.emit): host builds of generated C against the portable CMSIS-NN runtime,
2,000 vectors per graph compared integer by integer with hwq.ir.run; determinism; sanitising; refusals."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from hwq.formats import FixedFormat, parse
from hwq.ir.graph import Graph
from hwq.ir.ops import Dense, ReLU
from hwq.mcu import McuEmitError, emit, generate, supports
from hwq.sim.verify import verify

from .conftest import need_tool
from .graphs_c import ACC, KINDS_C, conv_graph, dense_graph, random_cmsis_graph, s16_graph

N = 2000


def _verify(graph, tmp_path, n=N, **kw):
    need_tool("gcc")
    d = tmp_path / "mcu"
    emit(graph, d)
    r = verify("mcu", d, vectors=n, seed=3, **kw)
    assert r.vectors == n
    assert r.mismatches == 0, r.detail_lines()[:5]
    return d, r


HAND = {
    "dense": lambda: dense_graph(),
    "dense_per_channel_single": lambda: dense_graph(per_channel=True, single=True, relu=False),
    "dense_uint8_input": lambda: dense_graph(in_fmt="ufixed<8,8,TRN,SAT>", relu=False),
    "conv_pool_dense": lambda: conv_graph(),
    "conv_single": lambda: conv_graph(single=True, pool=False),
    "conv_stride_asym_pad": lambda: conv_graph(stride=(2, 1), padding=(0, 2, 1, 0), pool=False),
    "depthwise": lambda: conv_graph(groups=3, cout=6),
    "depthwise_stride": lambda: conv_graph(groups=3, cout=3, stride=(2, 2), padding=(1, 1, 1, 1), dense=False),
    "conv_int4": lambda: conv_graph(wbits=4),
    "conv_1x1": lambda: conv_graph(k=1, padding=(0, 0, 0, 0), pool=False, dense=False),
    "s16_conv_pool_dense": lambda: s16_graph(),
    "s16_dense": lambda: s16_graph(conv=False),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_graphs_host_exact(name, tmp_path):
    _verify(HAND[name](), tmp_path)


@pytest.mark.parametrize(
    "seed", [*range(len(KINDS_C)), *(pytest.param(s, marks=pytest.mark.slow) for s in range(6, 2 * len(KINDS_C)))]
)
def test_random_graphs_each_kind_host_exact(seed, tmp_path):
    kind = KINDS_C[seed % len(KINDS_C)]
    g = random_cmsis_graph(seed, kinds=[kind, KINDS_C[(seed * 5 + 1) % len(KINDS_C)]], single=bool(seed % 2))
    op_kind = {"conv": "conv2d", "depthwise": "conv2d", "add": "add_dyadic", "mul": "mul_dyadic"}.get(kind, kind)
    assert op_kind in {o.kind for o in g.ops}
    _verify(g, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 124))
def test_random_graphs_host_exact_more(seed, tmp_path):
    _verify(random_cmsis_graph(seed, n_layers=4), tmp_path)


def _fixed_dense(rounding: str, k_out: int = 3) -> Graph:
    """A fixed-point graph (power-of-two scales): fixed<8> x, fixed<8> w, direct cast to fixed<8,..>."""
    rng = np.random.default_rng(7)
    g = Graph("fixed_dense", ["x"], [])
    g.add_tensor("x", (16,), "fixed<8,3,TRN,SAT>")
    wf, bf = FixedFormat(8, 2), FixedFormat(16, 6)
    acc = FixedFormat(24, 10, True, "TRN", "WRAP")  # frac 5 + 6 = 11 = 24 - 13... checked below
    acc = FixedFormat(24, 24 - (5 + 6))
    out = FixedFormat(8, 8 - (11 - k_out), True, rounding, "SAT")
    g.add_tensor("y", (6,), out)
    w = rng.integers(-128, 128, size=(6, 16), dtype=np.int64)
    b = rng.integers(-2000, 2000, size=(6,), dtype=np.int64)
    g.add_op(Dense("fc", ["x"], "y", w, b, wf, bf, acc))
    g.add_tensor("z", (6,), FixedFormat(8, out.int_bits, False, "TRN", "SAT"))
    g.add_op(ReLU("relu", ["y"], "z"))
    g.outputs = ["z"]
    g.validate()
    return g


@pytest.mark.parametrize("rounding", ["RND", "TRN"])
def test_fixed_point_graph_maps_exactly(rounding, tmp_path):
    g = _fixed_dense(rounding)
    files = generate(g)
    assert '"single_rounding": true' in files["mcu.json"]  # RND / TRN via one rounding step
    _verify(g, tmp_path)


def test_fixed_point_unmappable_rounding_refused():
    g = _fixed_dense("RND_CONV")
    with pytest.raises(McuEmitError, match=r"op 'fc' \(dense\).*RND_CONV"):
        generate(g)
    assert "RND_CONV" in supports(g.op("fc"), g)


def test_deterministic_and_relative(tmp_path):
    g = random_cmsis_graph(3)
    a, b = (
        generate(g, command="hwq emit mcu --ir g.json --out x"),
        generate(g, command="hwq emit mcu --ir g.json --out x"),
    )
    assert a == b
    emit(g, tmp_path / "one" / "out", command=f"hwq emit mcu --ir {tmp_path}/one/g.json --out {tmp_path}/one/out")
    emit(g, tmp_path / "two" / "out", command=f"hwq emit mcu --ir {tmp_path}/two/g.json --out {tmp_path}/two/out")
    for f in sorted((tmp_path / "one" / "out").rglob("*")):
        if f.is_file():
            other = tmp_path / "two" / "out" / f.relative_to(tmp_path / "one" / "out")
            assert f.read_bytes() == other.read_bytes(), f.name
            assert str(tmp_path) not in f.read_text(errors="replace")
    text = (tmp_path / "one" / "out" / "hwq_rnd3.c").read_text()
    assert "Command: hwq emit mcu --ir ../g.json --out ." in text


def test_hostile_names_sanitised(tmp_path):
    g = dense_graph(name='a-b; system("x") */ int main(void){', relu=True)
    g.ops[0].name = "fc*/ #include <stdio.h> /*"
    d, _ = _verify(g, tmp_path, n=200)
    import re

    for f in d.glob("hwq_*"):
        code = re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)  # model names only inside comments
        assert 'system("x")' not in code and "<stdio.h>" not in code and "main(void){" not in code, f.name
    h = (d / "hwq_model.h").read_text()
    assert "#define HWQ_MODEL_RUN(in, out) hwq_a_b_system_x_int_main_void_run(in, out)" in h


def test_refusals_name_op_and_reason():
    from hwq.ir.ops import LUT, sigmoid_table

    g = dense_graph(relu=False)
    g.add_tensor("s", (10,), "fixed<8,1,TRN,SAT>")
    lut = LUT("sig", ["y"], "s", **_lut_kwargs(sigmoid_table, g))
    g.add_op(lut)
    g.outputs = ["s"]
    g.validate()
    with pytest.raises(McuEmitError, match=r"op 'sig' \(lut\): not supported by the MCU emitter"):
        generate(g)
    g2 = conv_graph(groups=1)
    g2.tensors["x"].fmt = parse("e4m3fn")
    with pytest.raises(McuEmitError, match="e4m3fn"):
        generate(g2)


def _lut_kwargs(table_fn, g):
    import inspect

    from hwq.ir.ops import LUT

    params = inspect.signature(LUT).parameters
    xf, yf = g.tensor("y").fmt, parse("fixed<8,1,TRN,SAT>")
    kw = {}
    if "table" in params:
        kw["table"] = table_fn(xf, yf) if len(inspect.signature(table_fn).parameters) >= 2 else table_fn()
    return kw


def test_grouped_conv_and_recip_avgpool_refused():
    g = conv_graph(cin=4, cout=4, groups=2, pool=False)
    with pytest.raises(McuEmitError, match=r"op 'conv' \(conv2d\): grouped convolution"):
        generate(g)


def test_cli_emit_refusal_writes_nothing(tmp_path):
    from hwq.ir.serialize import save

    g = conv_graph(cin=4, cout=4, groups=2, pool=False)
    save(g, tmp_path / "g.json")
    r = subprocess.run(["hwq", "emit", "mcu", "--ir", "g.json", "--out", "out"], cwd=tmp_path, capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 2
    assert "grouped convolution" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m55"])
def test_arm_build_warning_free(cpu, tmp_path):
    need_tool("arm-none-eabi-gcc")
    need_tool("make")
    g = random_cmsis_graph(5, kinds=["conv", "depthwise", "add", "avgpool"])
    emit(g, tmp_path / "m")
    r = subprocess.run(["make", f"CPU={cpu}"], cwd=tmp_path / "m", capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "warning" not in r.stderr.lower()
    assert (tmp_path / "m" / "build" / cpu / "hwq_main.elf").is_file()


def test_host_makefile_builds(tmp_path):
    need_tool("make")
    need_tool("gcc")
    emit(conv_graph(single=True), tmp_path / "m")
    r = subprocess.run(["make"], cwd=tmp_path / "m", capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "-DCMSIS_NN_USE_SINGLE_ROUNDING" in r.stdout


def test_wrong_rounding_build_is_an_error(tmp_path):
    need_tool("make")
    emit(conv_graph(single=True), tmp_path / "m")
    r = subprocess.run(["make", "CMSIS_NN_USE_SINGLE_ROUNDING=0"], cwd=tmp_path / "m", capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode != 0 and "single rounding" in (r.stdout + r.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7", "cortex-m55"])
def test_qemu_conv_exact(target, tmp_path):
    need_tool("arm-none-eabi-gcc")
    need_tool("qemu-system-arm")
    from hwq.cost import mcu

    g = conv_graph()
    _, r = _verify(g, tmp_path, n=40, target=target)
    layers = r.extra.get("layers") or r.extra.get("profile") or []
    assert r.extra.get("target") == target
    assert layers or r.extra, r.extra
    # the model alone, linked from its run entry: what hwq.cost.mcu's flash figure estimates (within 1 %)
    linked = r.extra["model_flash_bytes"]
    assert abs(mcu(g, target)["total"]["flash_bytes"] - linked) <= 0.01 * linked
    assert r.extra["text_bytes"] > linked  # the QEMU program adds the harness, startup and C library


def test_accumulator_acc_fmt_checked():
    g = dense_graph(n=64, relu=False)  # |acc| up to 64*127*128 + 5000 > 2**19
    g.op("fc").acc_fmt = FixedFormat(20, 20, True, "TRN", "WRAP")
    g.tensors["acc"].fmt = FixedFormat(20, 20, True, "TRN", "WRAP")
    with pytest.raises(McuEmitError, match="may overflow"):
        generate(g)
    assert ACC.width == 32
