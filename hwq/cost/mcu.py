"""Microcontroller cost model: instructions per layer per Cortex-M target, flash, peak SRAM, MACs.

Memory comes from the MCU backend itself, not from a formula: ``hwq.mcu.plan.plan_memory`` (the arena
the generated code allocates; peak SRAM = arena + the caller's input/output arrays; flash = the const
arrays (weights, biases, multipliers, shifts) plus the planner's code-size estimate). The layers are the
CMSIS-NN calls of ``hwq.mcu.lower.lower`` (fused requantisation and clamps included).

Instructions: per kernel family (fully connected, convolution, depthwise, pooling, element-wise; int8
or int4 weights) ``mac * MACs + output * outputs + call`` (+ ``im2col * patch elements`` for a
convolution), coefficients in the target file's ``[instructions]``. They are to be fitted to exact QEMU
instruction counts (``fit_instructions``); until a target file says ``calibrated = true`` they are
priors from the kernels' inner loops (Cortex-M4/M7: SMLAD, two MACs per instruction plus loads and
sign extension; Cortex-M55: MVE, 16 int8 lanes) and are **uncalibrated**.
"""

from __future__ import annotations

import numpy as np

from .targets import load_target


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


def mcu(graph, target="cortex-m4") -> dict:
    """MCU cost of ``graph`` (an IR ``Graph`` the MCU backend can emit) on a Cortex-M ``target``.

    Returns ``{"target", "units", "calibrated", "layers": [{name, func, macs, instructions}], "total":
    {instructions, macs, flash_bytes, flash_weight_bytes, flash_code_bytes, peak_sram_bytes,
    arena_bytes}}``; instructions are counts, memory in bytes. Raises ValueError (``McuEmitError``)
    naming the op when the graph cannot be emitted for a microcontroller.
    """
    from hwq.mcu.lower import lower
    from hwq.mcu.plan import plan_program

    tgt = load_target(target)
    if tgt.get("target", {}).get("kind") != "mcu":
        raise ValueError(f"cost target {tgt['target'].get('name')!r} is not a microcontroller target")
    coefs = tgt.get("instructions", {})
    program = lower(graph)
    plan = plan_program(program)
    rows = []
    for step in program.steps:
        f = step_features(step, program)
        name = step.layer.ops[0].name if step.layer is not None else step.output
        rows.append(
            {
                "name": name,
                "func": step.func,
                "macs": f["macs"],
                "outputs": f["outputs"],
                "instructions": int(round(instructions(step.func, f, coefs))),
            }
        )
    code = int(plan.flash_code_bytes) + int(tgt.get("memory", {}).get("code_base_bytes", 0))
    total = {
        "instructions": sum(r["instructions"] for r in rows),
        "macs": sum(r["macs"] for r in rows),
        "flash_bytes": int(plan.flash_weight_bytes) + code,
        "flash_weight_bytes": int(plan.flash_weight_bytes),
        "flash_code_bytes": code,
        "peak_sram_bytes": int(plan.peak_sram_bytes),
        "arena_bytes": int(plan.arena_bytes),
    }
    return {
        "target": tgt["target"]["name"],
        "units": {"instructions": "count", "macs": "count", "flash_bytes": "bytes", "peak_sram_bytes": "bytes"},
        "calibrated": bool(coefs.get("calibrated", False)),
        "layers": rows,
        "total": total,
    }


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
