"""A small hand-written CMSIS-NN model (IR graph + C sources + mcu.json) for the harness/runner tests.

conv2d 3x3 pad 1 (1 -> 4 channels, input offset) -> dyadic requantize -> maxpool 2x2 -> flatten -> dense
(64 -> 10, input offset) -> dyadic requantize, written the way ``hwq emit mcu`` lays a model out: the IR's
(C, H, W) tensors are HWC in C, so the dense weight columns are permuted from (c, h, w) to (h, w, c) order.
Stand-in for the generator's output until it lands; it exercises hwq_main.c, rules.mk and sim/mcurun.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwq.formats import FixedFormat, parse, quantize_multiplier
from hwq.ir import Graph
from hwq.ir import ops as O
from hwq.ir.passes import validate
from hwq.ir.serialize import dumps

ACC = FixedFormat(32, 32, True, "TRN", "WRAP")


def graph(single: bool, seed: int = 0) -> Graph:
    """The IR of the model (input ``x`` (1, 8, 8) int8, output ``y`` (10,) int8)."""
    rng = np.random.default_rng(seed)
    i8, w8 = parse("int<8>"), parse("int<8,narrow>")
    g = Graph("tiny", ["x"], ["y"])
    for name, shape, fmt in [
        ("x", (1, 8, 8), i8),
        ("a0", (4, 8, 8), ACC),
        ("c0", (4, 8, 8), i8),
        ("p0", (4, 4, 4), i8),
        ("f0", (64,), i8),
        ("a1", (10,), ACC),
        ("y", (10,), i8),
    ]:
        g.add_tensor(name, shape, fmt)
    w0 = rng.integers(-127, 128, (4, 1, 3, 3))
    g.add_op(
        O.Conv2d(
            "conv",
            ["x"],
            "a0",
            w0,
            rng.integers(-900, 900, 4),
            w8,
            parse("int<32>"),
            ACC,
            (1, 1),
            (1, 1, 1, 1),
            (1, 1),
            1,
            11,
        )
    )
    m0 = np.array([quantize_multiplier(s)[0] for s in (0.004, 0.005, 0.006, 0.003)])
    s0 = np.array([quantize_multiplier(s)[1] for s in (0.004, 0.005, 0.006, 0.003)])
    g.add_op(O.Requantize("rq0", ["a0"], "c0", "dyadic", m0, s0, single, -5, -128, 127))
    g.add_op(O.MaxPool("pool", ["c0"], "p0", (2, 2), (2, 2), (0, 0, 0, 0)))
    g.add_op(O.Flatten("flat", ["p0"], "f0"))
    w1 = rng.integers(-127, 128, (10, 64))
    g.add_op(O.Dense("fc", ["f0"], "a1", w1, rng.integers(-3000, 3000, 10), w8, parse("int<32>"), ACC, 7))
    m1, s1 = quantize_multiplier(0.0021)
    g.add_op(O.Requantize("rq1", ["a1"], "y", "dyadic", np.array([m1]), np.array([s1]), single, 3, -128, 127))
    return validate(g)


def _arr(ctype: str, name: str, values) -> str:
    body = ", ".join(str(int(v)) for v in np.asarray(values).ravel())
    return f"static const {ctype} {name}[] = {{{body}}};\n"


def write(out_dir, g: Graph) -> Path:
    """Write graph.json, hwq_model.h, hwq_tiny.c and mcu.json for ``g`` (from ``graph``) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conv, rq0, _, _, fc, rq1 = g.ops
    w0 = conv.weight.transpose(0, 2, 3, 1)  # OHWI
    w1 = fc.weight.reshape(10, 4, 4, 4).transpose(0, 2, 3, 1).reshape(10, 64)  # (c,h,w) -> (h,w,c) columns
    (out / "graph.json").write_text(dumps(g))
    (out / "hwq_model.h").write_text(
        "#ifndef HWQ_MODEL_H\n#define HWQ_MODEL_H\n#include <stdint.h>\n"
        "#define HWQ_MODEL_INPUT_COUNT 64\n#define HWQ_MODEL_OUTPUT_COUNT 10\n#define HWQ_MODEL_ARENA_BYTES 320\n"
        "typedef int8_t hwq_model_in_t;\ntypedef int8_t hwq_model_out_t;\n"
        "int hwq_tiny_run(const int8_t *in, int8_t *out);\n#define HWQ_MODEL_RUN(in, out) hwq_tiny_run(in, out)\n"
        "#endif\n"
    )
    mult = ", ".join(str(int(v)) for v in rq0.multiplier)
    shift = ", ".join(str(int(v)) for v in rq0.shift)
    src = (
        '#include "hwq_model.h"\n#include "hwq_profile.h"\n#include "arm_nnfunctions.h"\n'
        + _arr("int8_t", "w0", w0)
        + _arr("int32_t", "b0", conv.bias)
        + f"static int32_t m0[] = {{{mult}}};\nstatic int32_t s0[] = {{{shift}}};\n"
        + _arr("int8_t", "w1", w1)
        + _arr("int32_t", "b1", fc.bias)
        + "static int8_t arena[HWQ_MODEL_ARENA_BYTES];\n"
        "int hwq_tiny_run(const int8_t *in, int8_t *out)\n{\n"
        "    cmsis_nn_context ctx = {0, 0};\n"
        f"    cmsis_nn_conv_params cp = {{{conv.input_offset}, {rq0.out_offset}, {{1, 1}}, {{1, 1}}, {{1, 1}}, "
        "{-128, 127}};\n"
        "    cmsis_nn_per_channel_quant_params q0 = {m0, s0};\n"
        "    cmsis_nn_dims id = {1, 8, 8, 1}, fd = {4, 3, 3, 1}, bd = {1, 1, 1, 4}, od = {1, 8, 8, 4};\n"
        "    cmsis_nn_pool_params pp = {{2, 2}, {0, 0}, {-128, 127}};\n"
        "    cmsis_nn_dims pf = {1, 2, 2, 1}, pod = {1, 4, 4, 4};\n"
        f"    cmsis_nn_fc_params fp = {{{fc.input_offset}, 0, {rq1.out_offset}, {{-128, 127}}}};\n"
        f"    cmsis_nn_per_tensor_quant_params q1 = {{{int(rq1.multiplier[0])}, {int(rq1.shift[0])}}};\n"
        "    cmsis_nn_dims fi = {1, 1, 1, 64}, ff = {64, 1, 1, 10}, fb = {1, 1, 1, 10}, fo = {1, 1, 1, 10};\n"
        "    HWQ_PROFILE_MARK(0);\n"
        "    if (arm_convolve_wrapper_s8(&ctx, &cp, &q0, &id, in, &fd, w0, &bd, b0, &od, arena) != 0) return 1;\n"
        "    HWQ_PROFILE_MARK(1);\n"
        "    if (arm_max_pool_s8(&ctx, &pp, &od, arena, &pf, &pod, arena + 256) != 0) return 1;\n"
        "    HWQ_PROFILE_MARK(2);\n"
        "    if (arm_fully_connected_s8(&ctx, &fp, &q1, &fi, arena + 256, &ff, w1, &fb, b1, &fo, out) != 0) return 1;\n"
        "    return 0;\n}\n"
    )
    (out / "hwq_tiny.c").write_text(src)
    manifest = {
        "inputs": [{"name": "x", "count": 64, "ctype": "int8_t", "storage_offset": 0, "offset": 0, "perm": [1, 2, 0]}],
        "outputs": [{"name": "y", "count": 10, "ctype": "int8_t", "storage_offset": 0, "offset": 0}],
        "single_rounding": bool(rq0.single_rounding),
    }
    (out / "mcu.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out
