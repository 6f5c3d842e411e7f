"""C source of one call of each runtime kernel on random data: the programs whose QEMU instruction counts
calibrate ``hwq.cost.mcu`` (``hwq.cost.mcu_calibrate``) and ``benchmarks/bench_mcu_kernels.py``.

``call_source(kind, params, rng)``: one ``hwq_kernel_run`` function calling ``kind`` (conv, dw, fc, pool, add,
mul) once on constant random weights (int8, packed int4 or int8 with int16 activations), random per-channel
multipliers and shifts, behind ``HWQ_PROFILE_MARK(0)``; ``write_case`` turns it into a folder that
``hwq.sim.mcurun.build`` builds like an emitted model (``hwq_model.h`` and ``mcu.json`` of a single
int8 / int16 input and output vector). Shape parameters: conv / dw ``h, w, cin, cout | mult, k, stride, pad``;
fc ``depth, out``; pool ``h, w, c, k, s, op``; add / mul ``n``; every kind ``t`` (``s8``, ``s4``, ``s16``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _arr(ctype: str, name: str, values, const: bool = True) -> str:
    """A C array definition of ``values``."""
    body = ", ".join(str(int(v)) for v in np.asarray(values).ravel())
    return f"static {'const ' if const else ''}{ctype} {name}[] = {{{body}}};\n"


def pack_s4(w) -> np.ndarray:
    """int4 values packed two per byte, low nibble first (CMSIS-NN s4 layout), as int8."""
    flat = np.asarray(w, dtype=np.int64).ravel()
    if flat.size % 2:
        flat = np.append(flat, 0)
    nib = flat & 0xF
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).view(np.int8)


def call_source(kind: str, p: dict, rng) -> tuple[str, int, int, str, int]:
    """C source of one kernel call, input count, output count, element C type and MACs (or elements)."""
    s16 = p["t"] == "s16"
    ct = "int16_t" if s16 else "int8_t"
    lo, hi = (-32768, 32767) if s16 else (-128, 127)
    src = '#include "hwq_model.h"\n#include "hwq_profile.h"\n#include "arm_nnfunctions.h"\n'
    if kind in ("conv", "dw"):
        h, w, cin, k, st, pad = p["h"], p["w"], p["cin"], p["k"], p["stride"], p["pad"]
        cout = p["cout"] if kind == "conv" else cin * p["mult"]
        ho, wo = (h + 2 * pad - k) // st + 1, (w + 2 * pad - k) // st + 1
        wshape = (cout, k, k, cin) if kind == "conv" else (1, k, k, cout)
        wlim = 8 if p["t"] == "s4" else 128
        wt = rng.integers(-wlim + 1, wlim, wshape)
        src += _arr("int8_t", "wt", pack_s4(wt) if p["t"] == "s4" else wt)
        if s16:
            src += _arr("int64_t", "bias", rng.integers(-1000, 1000, cout))
            src += "static const cmsis_nn_bias_data bd = {bias, false};\n"
        else:
            src += _arr("int32_t", "bias", rng.integers(-1000, 1000, cout))
        src += _arr("int32_t", "mult", rng.integers(1 << 30, 1 << 31, cout), const=False)
        src += _arr("int32_t", "shift", rng.integers(-10, -6, cout), const=False)
        n_in, n_out = h * w * cin, ho * wo * cout
        macs = ho * wo * cout * k * k * (cin if kind == "conv" else 1)
        params = (
            f"cmsis_nn_conv_params cp = {{{0 if s16 else 3}, {0 if s16 else -2}, {{{st}, {st}}}, {{{pad}, {pad}}}, "
            f"{{1, 1}}, {{{lo}, {hi}}}}};"
            if kind == "conv"
            else f"cmsis_nn_dw_conv_params cp = {{3, -2, {p['mult']}, {{{st}, {st}}}, {{{pad}, {pad}}}, {{1, 1}}, "
            f"{{{lo}, {hi}}}}};"
        )
        fdims = f"{{{cout}, {k}, {k}, {cin}}}" if kind == "conv" else f"{{1, {k}, {k}, {cout}}}"
        fn = {
            ("conv", "s8"): "arm_convolve_wrapper_s8",
            ("conv", "s4"): "arm_convolve_wrapper_s4",
            ("conv", "s16"): "arm_convolve_wrapper_s16",
            ("dw", "s8"): "arm_depthwise_conv_wrapper_s8",
            ("dw", "s4"): "arm_depthwise_conv_wrapper_s4",
        }[(kind, p["t"])]
        call = (
            f"    {params}\n    cmsis_nn_per_channel_quant_params q = {{mult, shift}};\n"
            f"    cmsis_nn_dims id = {{1, {h}, {w}, {cin}}}, fd = {fdims}, bdm = {{1, 1, 1, {cout}}}, "
            f"od = {{1, {ho}, {wo}, {cout}}};\n"
            f"    return (int){fn}(&ctx, &cp, &q, &id, in, &fd, wt, &bdm, {'&bd' if s16 else 'bias'}, &od, out);\n"
        )
    elif kind == "fc":
        depth, oc = p["depth"], p["out"]
        wlim = 8 if p["t"] == "s4" else 128
        wt = rng.integers(-wlim + 1, wlim, (oc, depth))
        src += _arr("int8_t", "wt", pack_s4(wt) if p["t"] == "s4" else wt)
        src += _arr("int64_t" if s16 else "int32_t", "bias", rng.integers(-1000, 1000, oc))
        fn = {"s8": "arm_fully_connected_s8", "s4": "arm_fully_connected_s4", "s16": "arm_fully_connected_s16"}[p["t"]]
        n_in, n_out, macs = depth, oc, depth * oc
        call = (
            f"    cmsis_nn_fc_params fp = {{{0 if s16 else 3}, 0, {0 if s16 else -2}, {{{lo}, {hi}}}}};\n"
            f"    cmsis_nn_per_tensor_quant_params q = {{1500000000, {-12 if s16 else -8}}};\n"
            f"    cmsis_nn_dims id = {{1, 1, 1, {depth}}}, fd = {{{depth}, 1, 1, {oc}}}, bdm = {{1, 1, 1, {oc}}}, "
            f"od = {{1, 1, 1, {oc}}};\n"
            f"    return (int){fn}(&ctx, &fp, &q, &id, in, &fd, wt, &bdm, bias, &od, out);\n"
        )
    elif kind == "pool":
        h, w, c, k, st = p["h"], p["w"], p["c"], p["k"], p["s"]
        ho, wo = (h - k) // st + 1, (w - k) // st + 1
        fn = f"arm_{'max_pool' if p['op'] == 'max' else 'avgpool'}_{p['t']}"
        n_in, n_out, macs = h * w * c, ho * wo * c, ho * wo * c * k * k
        call = (
            f"    cmsis_nn_pool_params pp = {{{{{st}, {st}}}, {{0, 0}}, {{{lo}, {hi}}}}};\n"
            f"    cmsis_nn_dims id = {{1, {h}, {w}, {c}}}, fd = {{1, {k}, {k}, 1}}, od = {{1, {ho}, {wo}, {c}}};\n"
            f"    return (int){fn}(&ctx, &pp, &id, in, &fd, &od, out);\n"
        )
    else:  # add / mul: the second operand is the input shifted by one element
        n = p["n"]
        n_in, n_out, macs = n + 1, n, n
        if kind == "add":
            call = (
                "    return (int)arm_elementwise_add_s8(in, in + 1, 3, 1500000000, -1, -5, 1300000000, -2, 20, out, "
                f"-2, 1400000000, -19, -128, 127, {n});\n"
            )
        else:
            call = (
                f"    return (int)arm_elementwise_mul_s8(in, in + 1, 3, -5, out, -2, 1400000000, -8, -128, 127, {n});\n"
            )
    src += (
        "int hwq_kernel_run(const hwq_model_in_t *in, hwq_model_out_t *out)\n{\n"
        "    cmsis_nn_context ctx = {0, 0};\n    (void)ctx;\n    HWQ_PROFILE_MARK(0);\n" + call + "}\n"
    )
    return src, n_in, n_out, ct, macs


def write_case(folder: Path, src: str, n_in: int, n_out: int, ct: str) -> None:
    """Write ``src`` as ``folder/kernel.c`` with the ``hwq_model.h`` and ``mcu.json`` that ``mcurun.build`` reads
    (``n_in`` / ``n_out`` elements of C type ``ct``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.c").write_text(src)
    (folder / "hwq_model.h").write_text(
        "#ifndef HWQ_MODEL_H\n#define HWQ_MODEL_H\n#include <stdint.h>\n"
        f"#define HWQ_MODEL_INPUT_COUNT {n_in}\n#define HWQ_MODEL_OUTPUT_COUNT {n_out}\n"
        f"#define HWQ_MODEL_ARENA_BYTES 0\ntypedef {ct} hwq_model_in_t;\ntypedef {ct} hwq_model_out_t;\n"
        "int hwq_kernel_run(const hwq_model_in_t *in, hwq_model_out_t *out);\n"
        "#define HWQ_MODEL_RUN(in, out) hwq_kernel_run(in, out)\n#endif\n"
    )
    io = {"count": 0, "ctype": ct, "storage_offset": 0}
    manifest = {
        "inputs": [{**io, "name": "x", "count": n_in}],
        "outputs": [{**io, "name": "y", "count": n_out}],
        "single_rounding": False,
        "sources": ["kernel.c"],
    }
    (folder / "mcu.json").write_text(json.dumps(manifest))


def kernel_function(kind: str, p: dict) -> str:
    """The runtime function a ``call_source`` program of ``kind`` / ``p`` calls."""
    t = p["t"]
    return {
        "conv": f"arm_convolve_wrapper_{t}",
        "dw": f"arm_depthwise_conv_wrapper_{t}",
        "fc": f"arm_fully_connected_{t}",
        "pool": f"arm_{'max_pool' if p.get('op') == 'max' else 'avgpool'}_{t}",
        "add": "arm_elementwise_add_s8",
        "mul": "arm_elementwise_mul_s8",
    }[kind]
