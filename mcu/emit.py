"""``hwq.mcu.emit``: IR graph -> a self-contained folder of C99 that calls CMSIS-NN (see ``mcu/__init__``)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from hwq.io import atomic_write, graph_hash

from .cgen import CProgram
from .lower import McuEmitError, lower
from .plan import plan_program

_HERE = Path(__file__).resolve().parent
OPTIONS: tuple[str, ...] = ("scratch", "patches", "split", "sram", "halo", "input")


def relative_command(command: str, out_dir) -> str:
    """The command with absolute paths made relative to ``out_dir`` (no machine paths in headers)."""
    if not command:
        return command
    try:
        parts = shlex.split(command)
    except ValueError:
        return command
    base = Path(out_dir)
    if base.name.startswith(".") and base.name.endswith(".partial"):  # hwq emit's staging folder
        base = base.parent / base.name[1 : -len(".partial")].rsplit(".", 1)[0]
    out = []
    for a in parts:
        key, sep, val = a.partition("=") if a.startswith("-") and "=" in a else ("", "", a)
        if os.path.isabs(val):
            val = os.path.relpath(val, base.absolute())
        out.append(key + sep + val if sep else val)
    return " ".join(shlex.quote(a) for a in out)


def _runtime_files() -> dict[str, bytes]:
    """The portable runtime (``mcu/runtime`` -> ``cmsis_nn/``) and the harness (``mcu/target`` -> ``target/``)."""
    files: dict[str, bytes] = {}
    for src, dst in (("runtime", "cmsis_nn"), ("target", "target")):
        root = _HERE / src
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".c", ".h", ".ld", ".mk", ".s", ".S"):  # build inputs only
                files[f"{dst}/{p.relative_to(root).as_posix()}"] = p.read_bytes()
    return files


def generate(graph, *, command: str = "", scratch: str = "cmsis-nn", patches: str = "none", split: str = "auto",
             sram: int = 0, halo: str = "auto", input: str = "sram") -> dict[str, str | bytes]:  # fmt: skip
    """Every file of the emitted folder, in memory (relative path -> text); McuEmitError naming the op.

    patches/split/sram/halo: the patch-based stage (``mcu.patch.search.choose_plan``); ``patches=none``
    with no ``sram`` budget is the layer-by-layer program. ``input=sram|stream``: the patch loop gathers its
    input windows from the caller's whole input array, or asks the user's callback for each window
    (``mcu.patch.cgen``; the input image then is not in SRAM); the layer-by-layer program always holds it."""
    from hwq.ir.serialize import dumps

    prog = lower(graph, scratch)
    text = dumps(graph)
    patches = str(patches).lower()
    if str(input) not in ("sram", "stream"):
        raise McuEmitError(f"input={input!r}: expected sram or stream")
    if patches == "none" and not sram and str(input) == "stream":
        raise McuEmitError("input=stream: only the patch loop fetches input windows; add -O patches=auto|RxC")
    if patches == "none" and not sram:
        cp = CProgram(prog, plan_program(prog), command, graph_hash(text), text)
    else:
        from .patch.cgen import PatchCProgram
        from .patch.search import choose_plan

        chosen, cands = choose_plan(prog, "auto" if patches == "none" else patches, str(split), int(sram),
                                    str(halo), scratch, input=str(input))  # fmt: skip
        if chosen.pp is None:
            cp = CProgram(prog, plan_program(prog), command, graph_hash(text), text)
        else:
            base = cands[0]
            chosen.pp.report = {
                "sram_budget_bytes": int(sram),
                "layer_by_layer": base.row(),
                "enumerated": len(cands),
                "sram_reduction": round(base.peak_sram_bytes / max(chosen.peak_sram_bytes, 1), 3),
                "arena_reduction": round(base.arena_bytes / max(chosen.arena_bytes, 1), 3),
                # both without the input image in SRAM (layer by layer: the caller's array dropped, its HWC copy
                # kept): the patch loop's own reduction, whichever input mode the user picks
                "sram_reduction_without_input_image": round(
                    (base.peak_sram_bytes - chosen.pp.input_bytes)
                    / max(chosen.pp.summary()["peak_sram_without_input_image_bytes"], 1),
                    3,
                ),
                "instructions_ratio": round(chosen.instructions / max(base.instructions, 1), 4),
            }
            cp = PatchCProgram(chosen.pp, command, graph_hash(text), text)
    p = cp.p
    files: dict[str, str | bytes] = {
        "graph.json": text,
        f"{p}.c": cp.model_c(),
        f"{p}_weights.c": cp.weights_c(),
        f"{p}.h": cp.model_h(),
        "hwq_model.h": cp.harness_h(),
        "Makefile": cp.makefile(),
        "mcu.json": cp.mcu_json(),
    }
    files.update(_runtime_files())
    return files


def emit(graph, out_dir, *, command: str = "", **options) -> list[Path]:
    """Write the MCU C for ``graph`` into ``out_dir``; return the files written.

    Files: ``graph.json`` (the IR), ``hwq_<model>.{c,h}`` (the CMSIS-NN calls; int8 or int16 arrays in the
    IR's element order), ``hwq_<model>_weights.c`` (const arrays), ``hwq_model.h`` (harness glue),
    ``Makefile`` (``CPU=host|cortex-m4|cortex-m7|cortex-m55``, ``CMSIS_NN``, ``CMSIS_NN_USE_SINGLE_ROUNDING``),
    ``mcu.json`` (layers, memory plan in bytes, storage mapping), ``cmsis_nn/`` and ``target/`` (copies of
    the portable runtime and harness). Option ``scratch=cmsis-nn|portable`` sizes kernel scratch buffers
    for any CMSIS-NN build (default) or for the portable runtime only (``mcu.plan.scratch_bytes``).
    Options ``patches=none|auto|RxC``, ``split=auto|OP``, ``sram=BYTES`` (peak SRAM budget; 0: none),
    ``halo=recompute|rows|cache|auto`` (nothing / halo rows / halo rows and columns cached; auto: per layer),
    ``input=sram|stream`` (whole input array, or input windows through the user's callback):
    run the leading stage patch by patch (``mcu.patch``; ``mcu.json`` then has a ``patch`` section).
    Everything is generated and checked before the first file is written; a graph the backend cannot
    take raises McuEmitError naming the op and the reason. The caller
    (``hwq emit``) refuses non-empty folders without --force. Same graph -> byte-identical files.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise McuEmitError(f"unknown mcu emitter option(s): {', '.join(unknown)}")
    files = generate(graph, command=relative_command(command, out_dir), **options)
    out_dir = Path(out_dir)
    return [atomic_write(out_dir / rel, data) for rel, data in sorted(files.items())]
