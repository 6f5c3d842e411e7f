"""Microcontroller cost model: instructions per layer per Cortex-M target, flash, peak SRAM, MACs.

Memory comes from the MCU backend itself, not from a formula: ``hwq.mcu.plan.plan_memory`` (the arena
the generated code allocates; peak SRAM = arena + the caller's input/output arrays; flash = the const
arrays (weights, biases, multipliers, shifts, exact) plus the code: with a target's ``[flash]`` table
(``flash_code_bytes``, measured on linked builds by ``benchmarks/calib_mcu_flash.py``) the union of the
kernels' linked symbols, the model file's helpers and a constant per call (the generated run function
passes each call's arguments as one ``static const`` object, so a call of a kernel always compiles to the
same bytes); without one, the planner's code table). The layers are the CMSIS-NN calls of
``hwq.mcu.lower.lower`` (fused requantisation and clamps included).

Instructions: each runtime function the generator emits (``KERNEL_OF``: conv s8/s4/s16, depthwise s8/s4,
fully connected s8/per-channel s8/s4/s16, max/avg pool s8/s16, element-wise add/mul s8) is priced by a
per-kernel formula ``sum(coef * feature)`` over the loop-trip counts of hwq's portable runtime kernels
(``kernel_features``: output pixels, four-channel and single-channel blocks, valid kernel rows and taps with
padding taps skipped, inner MAC iterations, unpacked int4 weights). The coefficients are least-squares fits
(``hwq.cost.mcu_calibrate``) to exact QEMU instruction counts of many shapes per kernel
(``benchmarks/calib_mcu_kernels.py`` -> ``tests/data/mcu_kernel_calib.json``) and live in the target file's
``[instructions.<kernel>]`` tables (Cortex-M4: mps2-an386, Cortex-M7: mps2-an500, Cortex-M55: mps3-an547).
Functions without a formula (layout copies, clamps, s16 element-wise) and targets not marked
``calibrated = true`` fall back to the old family priors
``mac * MACs + output * outputs + call`` (``instructions``), which are uncalibrated. The counts are those of
the portable C runtime (-O2), not of Arm's optimised CMSIS-NN library.
"""

from __future__ import annotations

from hwq.mcu.plan import flash_code_bytes, table_code_bytes  # the code-bytes laws live with the planner

from .mcu_formulas import (  # noqa: F401  (re-exported: the formulas' public names)
    KERNEL_OF,
    S4_UNPACK_BYTES,
    fit_instructions,
    fit_kernel,
    instructions,
    kernel_family,
    kernel_features,
    kernel_instructions,
    path_kernel,
    shape_from_bench,
    shape_from_step,
    step_features,
)
from .targets import load_target


def _step_rows(program, steps, coefs: dict) -> list[dict]:
    """Per-step rows {name, func, macs, outputs, instructions, calibrated} of lowered ``steps``."""
    rows = []
    for step in steps:
        f = step_features(step, program)
        name = step.layer.ops[0].name if step.layer is not None else step.output
        kernel = KERNEL_OF.get(step.func)
        shape = shape_from_step(step, program) if kernel else None
        calib = kernel_instructions(kernel, shape, coefs) if shape is not None else None
        rows.append(
            {
                "name": name,
                "func": step.func,
                "macs": f["macs"],
                "outputs": f["outputs"],
                "instructions": int(round(calib if calib is not None else instructions(step.func, f, coefs))),
                "calibrated": calib is not None,
            }
        )
    return rows


#: ``hwq emit mcu`` options that change what is built (and so its cost)
EMIT_OPTIONS = ("scratch", "patches", "split", "sram", "halo", "input")


def mcu(graph, target="cortex-m4", **options) -> dict:
    """MCU cost of ``graph`` (an IR ``Graph`` the MCU backend can emit) on a Cortex-M ``target``, as ``hwq emit
    mcu`` builds it with ``options`` (``EMIT_OPTIONS``: ``patches=none|auto|RxC``, ``split``, ``sram`` (bytes),
    ``halo``, ``input``, ``scratch``; default: the layer-by-layer program).

    Returns ``{"target", "units", "calibrated", "options", "layers": [{name, func, macs, instructions}], "total":
    {instructions, macs, flash_bytes, flash_weight_bytes, flash_code_bytes, peak_sram_bytes,
    arena_bytes}}``; instructions are counts, memory in bytes. With a patch plan the first row is the patch
    stage (its loop over the grid: MACs with the recomputed halo, instructions of every substep of every
    patch, the calibrated formulas on each patch's shape plus uncalibrated copy costs), the memory is the
    patch program's (arena, geometry tables, loop code) and ``total["patch"]`` names the plan. Raises
    ValueError (``McuEmitError``) naming the op or option when the graph or plan cannot be emitted.
    """
    from hwq.mcu.lower import lower
    from hwq.mcu.plan import plan_program

    tgt = load_target(target)
    if tgt.get("target", {}).get("kind") != "mcu":
        raise ValueError(f"cost target {tgt['target'].get('name')!r} is not a microcontroller target")
    unknown = sorted(set(options) - set(EMIT_OPTIONS))
    if unknown:
        raise ValueError(
            f"MCU option(s) {', '.join(unknown)}: not an `hwq emit mcu` option ({', '.join(EMIT_OPTIONS)})"
        )
    coefs = tgt.get("instructions", {})
    scratch = str(options.get("scratch", "cmsis-nn"))
    program = lower(graph, scratch)
    pp = _patch_plan(program, options)
    summary = pp.summary() if pp is not None else None
    single = bool(program.single_rounding)
    if pp is None:
        plan = plan_program(program)
        rows = _step_rows(program, program.steps, coefs)
        funcs = [step.func for step in program.steps]
        if tgt.get("flash"):  # calibrated against linked builds (hwq.cost.mcu_calibrate)
            code = flash_code_bytes(tgt["flash"], funcs, single)
        else:  # the fixed per-kernel table
            code = table_code_bytes(funcs) + int(tgt.get("memory", {}).get("code_base_bytes", 0))
    else:
        from hwq.mcu.patch.plan import estimate_instructions, patch_flash_code_bytes

        plan = pp.plan
        s = summary
        stage = {
            "name": f"patch stage {s['grid'][0]}x{s['grid'][1]} ({s['stage_ops'][0]} .. {s['stage_ops'][-1]})",
            "func": "patch loop: " + ", ".join(st.func for st in pp.stage_steps),
            "macs": int(s["stage_patch_macs"]),
            "outputs": int(program.buffers[program.tensor_buffer[pp.sch.output]].count),
            "instructions": int(round(estimate_instructions(pp, tgt)["stage"])),
            "calibrated": False,  # the kernels' formulas are; the copies between them are not
        }
        rows = [stage] + _step_rows(program, pp.rest, coefs)
        code = patch_flash_code_bytes(pp, tgt.get("flash") or {})
        if code is None:  # no calibrated patch table: the planner's Cortex-M4 figure
            code = int(plan.flash_code_bytes)
    total = {
        "instructions": sum(r["instructions"] for r in rows),
        "macs": sum(r["macs"] for r in rows),
        "flash_bytes": int(plan.flash_weight_bytes) + code,
        "flash_weight_bytes": int(plan.flash_weight_bytes),
        "flash_code_bytes": code,
        "peak_sram_bytes": int(plan.peak_sram_bytes),
        "arena_bytes": int(plan.arena_bytes),
    }
    if summary is not None:
        total["patch"] = {k: summary[k] for k in ("split", "grid", "halo", "patches", "extra_macs", "input")}
    return {
        "target": tgt["target"]["name"],
        "units": {"instructions": "count", "macs": "count", "flash_bytes": "bytes", "peak_sram_bytes": "bytes"},
        "calibrated": bool(coefs.get("calibrated", False)),
        "options": dict(options),
        "layers": rows,
        "total": total,
    }


def _patch_plan(program, options: dict):
    """The ``PatchProgram`` ``hwq emit mcu`` would build for ``options`` (None: the layer-by-layer program)."""
    patches = str(options.get("patches", "none")).lower()
    sram = int(options.get("sram", 0) or 0)
    if patches == "none" and not sram:
        if str(options.get("input", "sram")) == "stream":
            raise ValueError("input=stream: only the patch loop fetches input windows; add patches=auto|RxC")
        return None
    from hwq.mcu.patch.search import choose_plan

    # planned as ``hwq emit mcu`` plans it (its instruction objective is the Cortex-M4's), priced on ``tgt``
    chosen, _ = choose_plan(program, "auto" if patches == "none" else patches, str(options.get("split", "auto")),
                            sram, str(options.get("halo", "auto")), str(options.get("scratch", "cmsis-nn")),
                            input=str(options.get("input", "sram")))  # fmt: skip
    return chosen.pp
