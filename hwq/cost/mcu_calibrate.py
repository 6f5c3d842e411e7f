"""``hwq cost calibrate --target cortex-m4|cortex-m7|cortex-m55``: measure a Cortex-M target and fit its tables.

Both measurements are of hwq's portable runtime (``mcu/runtime``) as ``mcu/target/rules.mk`` builds it
(``arm-none-eabi-gcc -O2`` with the CPU's architecture flags):

1. **Instructions** (needs ``qemu-system-arm``): for every runtime kernel (``KERNELS``: conv s8/s4/s16,
   depthwise s8/s4, fully connected s8/per-channel s8/s4/s16, max/avg pool s8/s16, the int4 nibble paths,
   element-wise add/mul s8) ``N_SHAPES`` random small layer shapes (seeded), one program per kernel that calls
   it once per shape behind ``HWQ_PROFILE_MARK`` markers (``hwq.mcu.kernel_calls``), run once under QEMU on
   the CPU's board (``hwq.sim.mcurun.TARGETS``: mps2-an386 M4, mps2-an500 M7, mps3-an547 M55) and counted
   exactly from the translation-block trace (``mcurun.profile_layers``). Every third shape is held out; the
   per-kernel formulas (``hwq.cost.mcu.kernel_features``: loop trips of the runtime's kernels) are least
   squares fits on the others (``hwq.cost.mcu.fit_kernel``).
2. **Flash** (needs ``arm-none-eabi-gcc`` and ``arm-none-eabi-nm``): every kernel the MCU backend calls is
   linked alone from its entry point (with the ``*_get_buffer_size`` the run function calls before it), in
   both rounding builds, and ``nm -S`` gives the symbols it keeps; ``models`` random CMSIS-profile models
   (``flash_models``) are emitted and linked alone from their run entry (``mcurun.model_flash_bytes``: the
   model as it lands in a firmware). A model's code is the union of its kernels' symbols, the model file's
   helpers (read from the linked models) and ``run_base + run_call[kernel]`` per call, fitted by
   non-negative least squares on two of every three models; the third are held out. Patch programs
   (``hwq emit mcu -O patches=RxC``) add their geometry tables (exact) and their loop's code, priced per part
   and fitted the same way on ``models // 2`` linked patch programs.

The measurements live in ``hwq.cost.mcu_calib_kernels`` (instructions) and ``hwq.cost.mcu_calib_flash``
(flash, patch programs included); this module is the command and re-exports their public names.
``calibrate_mcu`` writes the ``[instructions]`` and ``[flash]`` tables into the target file (the packaged
one, or ``out_file``) with the date, compiler and QEMU versions and the sample counts, keeping its other
tables, and returns the report (held-out errors per kernel group and of the flash estimate, wall time).
Without QEMU only the flash table is fitted, and the report says so. One CPU with the default 90 models
takes about 80 s on 2 cores.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from .mcu_calib_flash import (  # noqa: F401  (re-exported: the flash calibration's public names)
    DEFAULT_MODELS,
    PATCH_PLANS,
    emit_flash_models,
    emit_patch_models,
    fit_flash,
    fit_patch_flash,
    flash_models,
    flash_text,
    helper_bytes,
    kept_symbols,
    kernel_bytes,
    kernel_sets,
    link_model,
    measure_flash,
    write_flash,
)
from .mcu_calib_kernels import (  # noqa: F401  (re-exported: the instruction calibration's public names)
    DEFAULT_SEED,
    HOLDOUT_GROUPS,
    KERNELS,
    N_SHAPES,
    McuCalibrationError,
    calibrate_targets,
    fit_instructions,
    holdout_errors,
    holdout_rows,
    instructions_text,
    measure_instructions,
    measure_kernel,
    program_source,
    random_shape,
    tool_versions,
    write_instructions,
)
from .mcu_formulas import kernel_instructions, shape_from_bench
from .targets import load_target, target_path


def target_cpu(target: dict) -> str:
    """The CPU a target file describes (``[target] cpu``, else its name); checked against the CPUs the MCU
    build knows (``hwq.sim.mcurun.TARGETS``)."""
    from hwq.sim.mcurun import TARGETS

    name = target["target"].get("name", "?")
    cpu = target["target"].get("cpu", name)
    if cpu not in TARGETS or TARGETS[cpu][1] is None:
        known = ", ".join(t for t, (_, machine) in TARGETS.items() if machine)
        raise McuCalibrationError(
            f"target {name!r}: no Cortex-M build for CPU {cpu!r} (mcu/target/rules.mk knows {known}; set "
            "[target] cpu = one of them in the target file)"
        )
    return cpu


def calibrate_mcu(
    target,
    out_file=None,
    models: int = DEFAULT_MODELS,
    seed: int = DEFAULT_SEED,
    jobs: int | None = None,
    log=print,
    instructions: bool | None = None,
) -> dict:
    """Measure and fit the Cortex-M ``target`` (name or .toml): instruction formulas on QEMU (when
    ``qemu-system-arm`` is installed, or ``instructions=True`` to require it) and the flash table from
    ``models`` linked random models; writes both into ``out_file`` (default: the target's own file; a new
    ``out_file`` starts as a copy of it) and returns the report: {target, cpu, instructions: {fit_calls,
    holdout: [{group, shapes, median_pct, max_pct}], data} or {skipped: reason}, flash: {held-out figures},
    tools, wall_seconds, target_file}. Raises McuCalibrationError naming a missing tool or a failed step."""
    t0 = time.perf_counter()
    tgt = load_target(target)
    if tgt["target"].get("kind") != "mcu":
        raise McuCalibrationError(f"target {tgt['target'].get('name')!r} is not an MCU target")
    cpu = target_cpu(tgt)
    name = tgt["target"]["name"]
    src = Path(str(target)) if str(target).endswith(".toml") else target_path(name)
    dest = Path(out_file) if out_file else src
    if dest != src:
        from hwq.io import atomic_write

        atomic_write(dest, src.read_text())
    report: dict = {"target": name, "cpu": cpu, "tools": tool_versions()}
    run_qemu = instructions if instructions is not None else shutil.which("qemu-system-arm") is not None
    if run_qemu:
        log(f"calibrate {name}: instruction counts of {sum(N_SHAPES.get(k, 9) for k in KERNELS)} kernel calls on QEMU")
        data = measure_instructions([cpu], seed=seed, log=log)
        fits, n_fit = fit_instructions(data, cpu)
        write_instructions(dest, fits, n_fit, data)
        coefs = load_target(dest)["instructions"]
        report["instructions"] = {"fit_calls": n_fit, "holdout": holdout_rows(data, cpu, coefs), "data": data}
    else:
        report["instructions"] = {"skipped": "qemu-system-arm not found: the [instructions] tables are unchanged"}
        log(f"calibrate {name}: qemu-system-arm not found, instructions not measured (flash only)")
    log(f"calibrate {name}: flash of {models} random models linked with arm-none-eabi-gcc")
    table, flash_report = measure_flash([cpu], models, jobs, log)[cpu]
    write_flash(dest, table)
    report["flash"] = flash_report
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    report["target_file"] = str(dest)
    return report


def plot(report: dict, path) -> Path:
    """Scatter plots (log axes) of the held-out estimates against the measurements: instructions per kernel
    call (QEMU) and flash bytes per model (arm-none-eabi-size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwq.io import atomic_write

    cpu = report["cpu"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    data = report["instructions"].get("data")
    ax = axes[0]
    if data:
        coefs = load_target(report["target_file"])["instructions"]
        for kernel, rows in data["kernels"].items():
            pts = [(r["instructions"][cpu], kernel_instructions(kernel, shape_from_bench(kernel, r["shape"]), coefs))
                   for r in rows if r["split"] == "holdout"]  # fmt: skip
            if pts:
                ax.scatter(*zip(*pts), s=12, label=kernel)
        ax.legend(fontsize=6, ncol=2)
        ax.set_title(f"{cpu}: held-out kernel calls, instructions")
    else:
        ax.set_title(f"{cpu}: instructions not measured (no QEMU)")
    fl = report["flash"]["held_out"]
    axes[1].scatter([r["linked"] for r in fl], [r["estimate"] for r in fl], s=14)
    axes[1].set_title(f"{cpu}: held-out models, flash bytes")
    for ax, unit in zip(axes, ("QEMU instructions", "arm-none-eabi-size text + data")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"measured ({unit})")
        ax.set_ylabel("estimate (hwq.cost.mcu)")
    fig.tight_layout()
    path = Path(path)
    with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
        fig.savefig(tmp.name, dpi=110)
        plt.close(fig)
        atomic_write(path, Path(tmp.name).read_bytes())
    return path
