"""Scratch (ctx) buffer sizes of the CMSIS-NN kernels the MCU backend calls, in bytes."""

from __future__ import annotations

SCRATCH_MODES = ("cmsis-nn", "portable")


def scratch_bytes(step, mode: str = "cmsis-nn") -> int:
    """Bytes of the ctx buffer of one step's kernel.

    ``mode="portable"``: exactly what ``mcu/runtime``'s ``*_get_buffer_size`` functions return (the
    portable kernels convolve directly and need no scratch: 0 for every kernel; tests compare with the C
    functions). ``mode="cmsis-nn"`` (the default, so the same folder also runs on the real library):
    the largest size any CMSIS-NN v6/v7 build asks for (portable C, DSP or MVE paths):
    convolution wrapper ``max(2*Cin*kH*kW int16 (DSP im2col), 4*ceil(Cin*kH*kW/8)*8 bytes (MVE))`` except
    a 1x1 kernel with no padding and unit stride (0); depthwise ``max(Cin*kH*kW int16, 4*124*kH*kW)`` when
    ch_mult is 1; fully connected ``Cout int32`` (MVE kernel sums); average pool ``C int32``. The generated
    code checks at run time that the linked library's ``*_get_buffer_size`` fits the planned buffer.
    """
    if mode == "portable":
        return 0
    f = step.func
    p = step.layer.params if step.layer is not None else {}
    if f.startswith("arm_convolve_wrapper"):
        if (p["kh"], p["kw"]) == (1, 1) and not any(p["padding"]) and tuple(p["stride"]) == (1, 1):
            return 0
        cols = p["cin"] * p["kh"] * p["kw"]
        return max(2 * cols * 2, 4 * ((cols + 7) // 8) * 8)
    if f.startswith("arm_depthwise_conv_wrapper"):
        if p.get("ch_mult", 1) != 1:
            return 0
        return max(p["cin"] * p["kh"] * p["kw"] * 2, 4 * 124 * p["kh"] * p["kw"])
    if f.startswith("arm_fully_connected"):
        return 4 * p["m"]
    if f.startswith("arm_avgpool"):
        return 4 * p["c"]
    return 0
