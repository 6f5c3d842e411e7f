"""The MCU instruction formulas (no planner, no patch code: both import this module).

``kernel_family`` / ``step_features`` / ``instructions``: the uncalibrated family priors (MACs, outputs,
im2col elements, a call); ``KERNEL_OF``, ``shape_from_step``, ``kernel_features``, ``kernel_instructions``:
the per-kernel formulas over the loop trips of hwq's portable runtime kernels whose coefficients
``hwq.cost.mcu_calibrate`` fits to QEMU counts (``fit_kernel``). ``hwq.cost.mcu`` re-exports them.
"""

from __future__ import annotations

import numpy as np


def kernel_family(func: str) -> tuple[str, str]:
    """(family, weight suffix) of a CMSIS-NN/hwq function name: family in fc, conv, dwconv, pool,
    elementwise, other; suffix s8 or s4."""
    suffix = "s4" if func.endswith("_s4") or "_s4" in func else "s8"
    if "fully_connected" in func:
        return "fc", suffix
    if "depthwise" in func:
        return "dwconv", "s8"
    if "convolve" in func:
        return "conv", suffix
    if "pool" in func:
        return "pool", ""
    if "elementwise" in func:
        return "elementwise", ""
    return "other", ""


def step_features(step, program) -> dict:
    """Shape figures of one lowered step: MACs, outputs, im2col patch elements (conv), elements."""
    out = program.buffers[step.output].count
    lay = step.layer
    macs = int(lay.macs) if lay is not None else 0
    patch = 0
    if lay is not None and lay.kind in ("conv1d", "conv2d") and out:
        cout = lay.ops[0].weight.shape[0]
        patch = macs // max(cout, 1)  # kernel elements per output pixel x pixels
    return {"macs": macs, "outputs": out, "im2col": patch, "elements": out}


def instructions(func: str, feats: dict, coefs: dict) -> float:
    """Instruction estimate of one kernel call from its shape figures and the target's coefficients."""
    fam, sfx = kernel_family(func)
    if fam in ("fc", "conv", "dwconv"):
        k = f"{fam}_{sfx}"
        return (
            coefs.get(f"{k}_mac", 1.0) * feats["macs"]
            + coefs.get(f"{k}_output", 0.0) * feats["outputs"]
            + coefs.get(f"{k}_im2col", 0.0) * feats["im2col"]
            + coefs.get(f"{k}_call", 0.0)
        )
    return coefs.get(f"{fam}_element", 8.0) * feats["elements"] + coefs.get(f"{fam}_call", 40.0)


def fit_instructions(samples: list[dict], family: str) -> dict:
    """Least-squares coefficients ``{family_mac, family_output, family_im2col, family_call}`` from measured
    samples ``{"macs", "outputs", "im2col", "instructions"}`` (e.g. QEMU counts of one kernel family).
    Columns that are constant zero get coefficient 0."""
    X = np.array([[s["macs"], s["outputs"], s.get("im2col", 0), 1.0] for s in samples], dtype=float)
    y = np.array([s["instructions"] for s in samples], dtype=float)
    used = X.any(axis=0)
    sol, *_ = np.linalg.lstsq(X[:, used] / y[:, None], np.ones(len(y)), rcond=None)
    coef = np.zeros(4)
    coef[used] = sol
    names = ("mac", "output", "im2col", "call")
    return {f"{family}_{n}": round(float(c), 6) for n, c in zip(names, coef)}


# ---------------------------------------------------------------------------------------------------------
# Calibrated per-kernel formulas (exact loop-trip features of hwq's portable runtime, mcu/runtime/Source)

#: calibration kernel key of each runtime function the generator emits
KERNEL_OF = {
    "arm_convolve_wrapper_s8": "conv_s8",
    "arm_convolve_s8": "conv_s8",
    "arm_convolve_wrapper_s4": "conv_s4",
    "arm_convolve_wrapper_s16": "conv_s16",
    "arm_depthwise_conv_wrapper_s8": "depthwise_s8",
    "arm_depthwise_conv_wrapper_s4": "depthwise_s4",
    "arm_fully_connected_s8": "fc_s8",
    "arm_fully_connected_wrapper_s8": "fc_per_channel_s8",
    "arm_fully_connected_per_channel_s8": "fc_per_channel_s8",
    "arm_fully_connected_s4": "fc_s4",
    "arm_fully_connected_s16": "fc_s16",
    "arm_max_pool_s8": "max_pool_s8",
    "arm_max_pool_s16": "max_pool_s16",
    "arm_avgpool_s8": "avgpool_s8",
    "arm_avgpool_s16": "avgpool_s16",
    "arm_elementwise_add_s8": "add_s8",
    "arm_elementwise_mul_s8": "mul_s8",
}

#: int4 kernels unpack this many weight bytes on the stack (mcu/runtime HWQ_S4_UNPACK_BYTES)
S4_UNPACK_BYTES = 1024


def _valid(n_out: int, size: int, k: int, stride: int, pad: int, dil: int) -> int:
    """Sum over the n_out output positions of the kernel taps inside [0, size) (padding taps are skipped)."""
    total = 0
    for o in range(n_out):
        base = o * stride - pad
        total += sum(1 for t in range(k) if 0 <= base + t * dil < size)
    return total


def shape_from_bench(kernel: str, p: dict) -> dict:
    """Normalised shape (see ``shape_from_step``) of a ``benchmarks/bench_mcu_kernels.py`` case ``p``."""
    if kernel.startswith(("conv", "depthwise")):
        k, s, pad = p["k"], p["stride"], p["pad"]
        cout = p["cout"] if kernel.startswith("conv") else p["cin"] * p["mult"]
        ho, wo = (p["h"] + 2 * pad - k) // s + 1, (p["w"] + 2 * pad - k) // s + 1
        return dict(h=p["h"], w=p["w"], cin=p["cin"], cout=cout, kh=k, kw=k, sh=s, sw=s, pt=pad, pl=pad,
                    dh=1, dw=1, ho=ho, wo=wo)  # fmt: skip
    if kernel.startswith(("max_pool", "avgpool")):
        k, s = p["k"], p["s"]
        ho, wo = (p["h"] - k) // s + 1, (p["w"] - k) // s + 1
        return dict(h=p["h"], w=p["w"], cin=p["c"], cout=p["c"], kh=k, kw=k, sh=s, sw=s, pt=0, pl=0, dh=1, dw=1,
                    ho=ho, wo=wo)  # fmt: skip
    if kernel.startswith("fc"):
        return dict(depth=p["depth"], out=p["out"])
    return dict(n=p["n"])


def shape_from_step(step, program) -> dict | None:
    """Normalised shape of one lowered step (``hwq.mcu.lower`` Step): conv/depthwise/pool ``h, w, cin, cout,
    kh, kw, sh, sw, pt, pl, dh, dw, ho, wo`` (pixels, channels, taps, strides, top/left padding, dilation);
    fully connected ``depth, out``; element-wise ``n``. None for steps without layer geometry."""
    kernel = KERNEL_OF.get(step.func)
    if kernel is None or step.layer is None:
        return None
    g = step.layer.params
    if kernel.startswith("fc"):
        return dict(depth=int(g["n"]), out=int(g["m"]))
    if kernel in ("add_s8", "mul_s8"):
        return dict(n=int(program.buffers[step.output].count))
    st, pad = g["stride"], g["padding"]
    st = (st, st) if isinstance(st, int) else tuple(st)
    dil = g.get("dilation", (1, 1))
    dil = (dil, dil) if isinstance(dil, int) else tuple(dil)
    pt, pl = (pad[0], pad[2]) if len(pad) == 4 else (0, pad[0])
    cin = int(g.get("cin", g.get("c", 0)))
    cout = int(g.get("cout", cin))
    return dict(h=int(g["h"]), w=int(g["w"]), cin=cin, cout=cout, kh=int(g["kh"]), kw=int(g["kw"]),
                sh=int(st[0]), sw=int(st[1]), pt=int(pt), pl=int(pl), dh=int(dil[0]), dw=int(dil[1]),
                ho=int(g["ho"]), wo=int(g["wo"]))  # fmt: skip


def path_kernel(kernel: str, g: dict) -> str:
    """The calibration key of the code path the runtime takes: int4 kernels whose weights do not fit the
    HWQ_S4_UNPACK_BYTES stack buffer run a nibble-by-nibble loop (``conv_s4_big``, ``depthwise_s4_big``,
    ``fc_s4_big``)."""
    if kernel == "conv_s4" and 4 * g["kh"] * g["kw"] * g["cin"] > S4_UNPACK_BYTES:
        return "conv_s4_big"
    if kernel == "depthwise_s4" and g["kh"] * g["kw"] * g["cout"] > S4_UNPACK_BYTES:
        return "depthwise_s4_big"
    if kernel == "fc_s4" and g["depth"] > S4_UNPACK_BYTES:
        return "fc_s4_big"
    return kernel


def kernel_features(kernel: str, g: dict) -> dict:
    """Loop-trip counts of one call of a runtime kernel (``mcu/runtime/Source``) for normalised shape ``g``.

    The calibrated instruction count is ``sum(coef[f] * value)`` over these features (``call`` = 1).
    conv/depthwise/pool: ``P`` output pixels, ``n4``/``n1`` four-channel and single-channel blocks per pixel,
    ``VR`` valid kernel rows and ``VT`` valid taps summed over the pixels (padding taps are skipped)."""
    if kernel.startswith("fc"):
        d, o = g["depth"], g["out"]
        if kernel in ("fc_s16", "fc_s4_big"):
            return {"call": 1, "out": o, "mac": o * d}
        if kernel == "fc_s4":
            rows = max(1, min(4, S4_UNPACK_BYTES // max(d, 1)))
            sizes = [min(rows, o - o0) for o0 in range(0, o, rows)]
            n4, n1 = sum(r // 4 for r in sizes), sum(r % 4 for r in sizes)
            return {"call": 1, "chunks": len(sizes), "blk4": n4, "blk1": n1, "mac4": n4 * d, "mac1": n1 * d,
                    "out": o, "unpack": o * d}  # fmt: skip
        n4, n1 = o // 4, o % 4
        return {"call": 1, "blk4": n4, "blk1": n1, "mac4": n4 * d, "mac1": n1 * d, "out": o}
    if kernel in ("add_s8", "mul_s8"):
        return {"call": 1, "element": g["n"]}
    P = g["ho"] * g["wo"]
    vr_y = _valid(g["ho"], g["h"], g["kh"], g["sh"], g["pt"], g["dh"])
    vc_x = _valid(g["wo"], g["w"], g["kw"], g["sw"], g["pl"], g["dw"])
    VR, VT = vr_y * g["wo"], vr_y * vc_x
    cout, cin = g["cout"], g["cin"]
    f = {"call": 1, "rows": g["ho"], "pix": P, "out": P * cout}
    if kernel in ("conv_s16", "conv_s4_big", "depthwise_s4_big"):
        f.update(ky=P * cout * g["kh"], kx=VR * g["kw"] * cout, tap=VT * cout)
        if kernel != "depthwise_s4_big":
            f.update(mac=VT * cout * cin)
        return f
    if kernel.startswith(("max_pool", "avgpool")):
        if kernel.endswith("s16"):
            f.update(ky=VR * cout, tap=VT * cout)
            return f
        n4, n1 = cout // 4, cout % 4
        f.update(blk4=P * n4, blk1=P * n1, ky4=VR * n4, ky1=VR * n1, tap4=VT * n4, tap1=VT * n1)
        return f
    n4, n1 = cout // 4, cout % 4
    f.update(blk4=P * n4, blk1=P * n1, ky=P * (n4 + n1) * g["kh"], kx4=VR * g["kw"] * n4, kx1=VR * g["kw"] * n1,
             tap4=VT * n4, tap1=VT * n1)  # fmt: skip
    if kernel.startswith("conv"):
        f.update(mac4=VT * n4 * cin, mac1=VT * n1 * cin)
    if kernel == "conv_s4":
        f.update(blocks=n4 + n1, brows=g["ho"] * (n4 + n1), unpack=cout * g["kh"] * g["kw"] * cin)
    if kernel == "depthwise_s4":
        f.update(unpack=g["kh"] * g["kw"] * cout)
    return f


def kernel_instructions(kernel: str, g: dict, coefs: dict) -> float | None:
    """Calibrated instruction count of one kernel call (None when ``coefs`` has no formula for ``kernel``)."""
    kernel = path_kernel(kernel, g)
    c = coefs.get(kernel)
    if not isinstance(c, dict):
        return None
    return float(sum(float(c.get(k, 0.0)) * v for k, v in kernel_features(kernel, g).items()))


def fit_kernel(kernel: str, rows: list[dict], cpu: str) -> dict:
    """Least-squares coefficients of ``kernel_features`` from measured rows ``{"shape" (bench parameters),
    "instructions": {cpu: count}}`` (relative residuals, so small and large calls weigh alike)."""
    feats = [kernel_features(kernel, shape_from_bench(kernel, r["shape"])) for r in rows]
    names = sorted({k for f in feats for k in f})
    X = np.array([[f.get(n, 0) for n in names] for f in feats], dtype=float)
    y = np.array([r["instructions"][cpu] for r in rows], dtype=float)
    sol, *_ = np.linalg.lstsq(X / y[:, None], np.ones(len(y)), rcond=None)
    return {n: round(float(v), 4) for n, v in zip(names, sol)}
