"""Build and run an emitted MCU model on the host or on a Cortex-M in QEMU; per-layer instruction counts.

``run_mcu(out_dir, graph, inputs_raw, target="host", **kw) -> (outputs, extra)`` is the ``hwq verify mcu``
runner (see ``hwq.sim.verify``). ``out_dir`` is a folder written by ``hwq emit mcu``: generated C files,
``hwq_model.h`` and ``mcu.json``, whose ``inputs``/``outputs`` lists give the storage mapping of each graph
input/output: ``{"name", "count", "ctype": "int8_t"|"int16_t", "storage_offset"[, "perm"]}`` with
``storage = raw + storage_offset`` and, when ``perm`` is given, the per-vector storage order
``raw.transpose(perm)`` (e.g. ``[1, 2, 0]`` for an IR (C, H, W) tensor stored HWC). A vector is the
concatenation of the inputs in that order (outputs likewise).

The program is the generated sources + ``mcu/target/hwq_main.c`` + CMSIS-NN (default: the portable runtime
``mcu/runtime``, or ``cmsis_nn=PATH``), built with ``mcu/target/rules.mk`` (host gcc ``-Wall -Wextra
-Werror``; ``arm-none-eabi-gcc`` for ``cortex-m4``/``cortex-m7``/``cortex-m55``), cached by content hash in
``cache_dir`` (default: the system temp folder). The rounding build comes from ``mcu.json``
(``single_rounding``) or else from the graph's dyadic Requantize ops.

QEMU targets (``mps2-an386`` Cortex-M4F, ``mps2-an500`` Cortex-M7, ``mps3-an547`` Cortex-M55, semihosting
file I/O) also give, in
``extra``: exact per-layer instruction counts from a second run of one vector built with ``HWQ_PROFILE``
(QEMU ``-d in_asm,exec,nochain``: every executed translation block is logged and its instruction count is
known from its translation; the instructions between consecutive executions of the harness's marker
functions are one layer), the measured stack high-water mark (painted stack) and the arena size.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

MCU_DIR = Path(__file__).resolve().parent.parent / "mcu"
TARGET_DIR = MCU_DIR / "target"
RUNTIME_DIR = MCU_DIR / "runtime"
RULES = TARGET_DIR / "rules.mk"

#: target name -> (rules.mk CPU, QEMU machine or None)
TARGETS = {
    "host": ("host", None),
    "cortex-m4": ("cortex-m4", "mps2-an386"),
    "cortex-m7": ("cortex-m7", "mps2-an500"),
    "cortex-m55": ("cortex-m55", "mps3-an547"),
}
CTYPES = {"int8_t": np.int8, "int16_t": np.int16}
#: seconds a QEMU run may take before it is reported as hung
QEMU_TIMEOUT_S = 600


class McuRunError(RuntimeError):
    """The MCU program could not be built or run; the message names the file, tool or step."""


def _tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise McuRunError(f"{name} not found on PATH: {why}")
    return path


def load_manifest(out_dir) -> dict:
    """``out_dir/mcu.json`` with its ``inputs``/``outputs`` storage lists checked."""
    path = Path(out_dir) / "mcu.json"
    if not path.exists():
        raise McuRunError(f"{path}: missing (not an `hwq emit mcu` folder?)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise McuRunError(f"{path}: not valid JSON ({e})") from None
    for key in ("inputs", "outputs"):
        items = data.get(key)
        if not isinstance(items, list) or not items:
            raise McuRunError(f"{path}: '{key}' must be a non-empty list of storage mappings")
        for item in items:
            for field in ("name", "count", "ctype", "storage_offset"):
                if field not in item:
                    raise McuRunError(f"{path}: {key} entry {item.get('name', '?')!r} lacks '{field}'")
            if item["ctype"] not in CTYPES:
                raise McuRunError(f"{path}: {key} entry {item['name']!r} has ctype {item['ctype']!r}")
    return data


def model_sources(out_dir, manifest: dict) -> list[str]:
    """The generated C files, relative to ``out_dir`` (``mcu.json`` ``sources`` or every top-level .c)."""
    out_dir = Path(out_dir)
    names = manifest.get("sources") or sorted(p.name for p in out_dir.glob("*.c"))
    if not names:
        raise McuRunError(f"{out_dir}: no generated .c files")
    for n in names:
        if not (out_dir / n).exists():
            raise McuRunError(f"{out_dir / n}: listed in mcu.json but missing")
    if not (out_dir / "hwq_model.h").exists():
        raise McuRunError(f"{out_dir / 'hwq_model.h'}: missing (the harness glue header of `hwq emit mcu`)")
    return list(names)


def single_rounding(graph, manifest: dict) -> bool:
    """The rounding build: ``mcu.json`` ``single_rounding`` if present, else the graph's dyadic requantisers
    (they must agree with each other)."""
    if "single_rounding" in manifest:
        return bool(manifest["single_rounding"])
    meta = (getattr(graph, "meta", None) or {}).get("cmsis_nn") or {}
    if "single_rounding" in meta:
        return bool(meta["single_rounding"])
    kinds = ("add_dyadic", "mul_dyadic")
    ops = [op for op in graph.ops if getattr(op, "mode", None) == "dyadic" or op.kind in kinds]
    flags = {bool(op.single_rounding) for op in ops}
    if len(flags) > 1:
        raise McuRunError("the graph mixes single- and double-rounding requantisers: one CMSIS-NN build cannot run it")
    return flags.pop() if flags else False


def build(out_dir, target: str = "host", *, single: bool, profile: bool = False, cache_dir=None, cmsis_nn=None):
    """Build (or reuse) the harness program for ``target``; returns (program path, figures).

    The cache key hashes the generated sources and headers, the runtime and target files, the target,
    the rounding build and the profile flag. Concurrent builds of the same key wait on a lock file."""
    if target not in TARGETS:
        raise McuRunError(f"unknown MCU target {target!r} ({', '.join(TARGETS)})")
    out_dir = Path(out_dir).resolve()
    manifest = load_manifest(out_dir)
    sources = model_sources(out_dir, manifest)
    cpu, _ = TARGETS[target]
    _tool("make", "the MCU build uses make")
    if cpu == "host":
        _tool("gcc", "the host build of the MCU model needs gcc")
    else:
        _tool("arm-none-eabi-gcc", "Cortex-M builds need it (apt install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    # the emitted folder's own copies (cmsis_nn/, target/) when it has them: verify what the user builds
    if cmsis_nn:
        lib_root = Path(cmsis_nn).resolve()
    elif (out_dir / "cmsis_nn" / "Include" / "arm_nnfunctions.h").exists():
        lib_root = out_dir / "cmsis_nn"
    else:
        lib_root = RUNTIME_DIR
    if not (lib_root / "Include" / "arm_nnfunctions.h").exists():
        raise McuRunError(f"{lib_root}: not a CMSIS-NN root (Include/arm_nnfunctions.h missing)")
    target_dir = out_dir / "target" if (out_dir / "target" / "rules.mk").exists() else TARGET_DIR
    h = hashlib.sha256(f"{cpu}|{int(single)}|{int(profile)}|{lib_root}|{target_dir}".encode())
    files = [out_dir / s for s in sources] + sorted(out_dir.glob("*.h"))
    files += sorted(target_dir.glob("*.[chl]*")) + sorted((lib_root / "Include").glob("*.h"))
    files += sorted((lib_root / "Source").rglob("*.c"))
    for p in files:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    cache = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "hwq-mcu-build"
    build_dir = cache / f"{cpu}{'-profile' if profile else ''}-{h.hexdigest()[:20]}"
    program = build_dir / ("hwq_main" if cpu == "host" else "hwq_main.elf")
    cache.mkdir(parents=True, exist_ok=True)
    with open(str(build_dir) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if program.exists():
            return program, {"build_s": 0.0, "cached": True}
        tmp = Path(tempfile.mkdtemp(prefix=build_dir.name + ".", dir=cache))
        cmd = [
            "make", "-s", "-f", str(target_dir / "rules.mk"), f"CPU={cpu}", f"CMSIS_NN={lib_root}",
            f"CMSIS_NN_USE_SINGLE_ROUNDING={int(single)}", f"MODEL_DIR={out_dir}", f"MODEL_SRCS={' '.join(sources)}",
            f"BUILD_DIR={tmp}", f"HWQ_PROFILE={int(profile)}",
        ]  # fmt: skip
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                raise McuRunError(f"{out_dir}: {cpu} build failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
            shutil.rmtree(build_dir, ignore_errors=True)
            os.replace(tmp, build_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return program, {"build_s": round(time.perf_counter() - t0, 3), "cached": False}


def write_vectors(path, graph, manifest: dict, inputs_raw: dict) -> int:
    """Write the binary input file (storage values, little-endian); returns the number of vectors."""
    parts, n, at = [], None, 0
    for item in manifest["inputs"]:
        name = item["name"]
        if int(item.get("offset", at)) != at:
            raise McuRunError(f"mcu.json: input {name} has offset {item['offset']}, expected {at} (inputs in order)")
        at += int(item["count"])
        if name not in inputs_raw:
            raise McuRunError(f"no values given for graph input {name}")
        raw = np.asarray(inputs_raw[name], dtype=np.int64)
        n = raw.shape[0] if n is None else n
        if "perm" in item:
            raw = raw.transpose(0, *[a + 1 for a in item["perm"]])
        raw = raw.reshape(raw.shape[0], -1)
        if raw.shape[1] != item["count"]:
            raise McuRunError(f"input {name}: {raw.shape[1]} values per vector, mcu.json says {item['count']}")
        store = raw + int(item["storage_offset"])
        info = np.iinfo(CTYPES[item["ctype"]])
        if store.size and (store.min() < info.min or store.max() > info.max):
            raise McuRunError(f"input {name}: raw + storage_offset leaves {item['ctype']}")
        parts.append(store.astype(np.dtype(CTYPES[item["ctype"]]).newbyteorder("<")).view(np.uint8).reshape(n, -1))
    np.concatenate(parts, axis=1).tofile(path)
    return int(n)


def read_vectors(path, graph, manifest: dict, n: int) -> list[np.ndarray]:
    """Parse the binary output file into raw arrays (n, *shape), one per graph output in graph order."""
    data = Path(path).read_bytes()
    per = sum(item["count"] * np.dtype(CTYPES[item["ctype"]]).itemsize for item in manifest["outputs"])
    if len(data) != per * n:
        raise McuRunError(f"{path}: expected {n} vectors of {per} bytes, got {len(data)} bytes")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(n, per)
    by_name, k = {}, 0
    for item in manifest["outputs"]:
        dt = np.dtype(CTYPES[item["ctype"]]).newbyteorder("<")
        size = item["count"] * dt.itemsize
        vals = rows[:, k : k + size].copy().view(dt).astype(np.int64) - int(item["storage_offset"])
        shape = tuple(graph.tensor(item["name"]).shape) if graph is not None else (item["count"],)
        if "perm" in item:
            stored = tuple(shape[a] for a in item["perm"])
            vals = vals.reshape(n, *stored).transpose(0, *[int(a) + 1 for a in np.argsort(item["perm"])])
        by_name[item["name"]] = vals.reshape(n, *shape)
        k += size
    names = list(graph.outputs) if graph is not None else [i["name"] for i in manifest["outputs"]]
    missing = [o for o in names if o not in by_name]
    if missing:
        raise McuRunError(f"mcu.json has no storage mapping for graph output(s) {', '.join(missing)}")
    return [by_name[o] for o in names]


_STATUS = re.compile(r"hwq: vectors=(\d+) stack_bytes=(-?\d+) arena_bytes=(\d+)")


def run_program(program, target: str, work, *, trace_log=None, timeout: float = QEMU_TIMEOUT_S) -> dict:
    """Run the built program on ``work/inputs.bin`` -> ``work/outputs.bin``; returns its status figures."""
    work = Path(work)
    cpu, machine = TARGETS[target]
    if machine is None:
        cmd = [str(program), "inputs.bin", "outputs.bin"]
    else:
        qemu = _tool("qemu-system-arm", "Cortex-M runs need it (Debian: apt install qemu-system-arm)")
        cmd = [qemu, "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native", "-kernel", str(program)]  # fmt: skip
        if trace_log is not None:
            cmd += ["-d", "in_asm,exec,nochain", "-D", str(trace_log)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise McuRunError(f"{program.name} on {target}: no exit within {timeout} s") from None
    run_s = time.perf_counter() - t0
    m = _STATUS.search(proc.stdout)
    if proc.returncode != 0 or m is None:
        raise McuRunError(
            f"{program.name} on {target} exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    return {"run_s": round(run_s, 3), "vectors": int(m[1]), "stack_bytes": int(m[2]), "arena_bytes": int(m[3])}


def symbol_addresses(program, names=("hwq_profile_start", "hwq_profile_mark", "hwq_profile_stop")) -> dict:
    """Addresses (Thumb bit cleared) of the harness's marker functions, from ``arm-none-eabi-nm``."""
    nm = _tool("arm-none-eabi-nm", "instruction counting reads the marker addresses with it")
    out = subprocess.run([nm, str(program)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16) & ~1
    missing = [n for n in names if n not in found]
    if missing:
        raise McuRunError(f"{program}: marker function(s) {', '.join(missing)} not found")
    return found


_IN_LINE = re.compile(r"^0x([0-9a-fA-F]+):\s+([0-9a-fA-F]{4})")
_TRACE = re.compile(r"^Trace \d+: (0x[0-9a-fA-F]+|\(nil\)) \[[0-9a-fA-F]+/([0-9a-fA-F]+)/")


def count_segments(log_path, addresses: dict) -> list[dict]:
    """Instruction counts between marker executions in a QEMU ``-d in_asm,exec,nochain`` log.

    Every ``IN:`` block is one translation (its instruction lines counted); the next ``Trace`` line at
    the block's start address names the host code pointer of that translation, and every later
    ``Trace`` line with that pointer executes its instructions again. Events are executions of
    translation blocks that start at ``hwq_profile_start``, ``hwq_profile_mark`` and
    ``hwq_profile_stop``. Returns one list per profiled run (start..stop) of segments
    ``{"from": "start"|"mark", "index", "instructions"}``: the instructions from one event to the next.
    Blocks that leave early (an exception in their middle) are counted in full; the harness has none
    between start and stop.
    """
    size_of: dict[str, int] = {}
    pending_pc, pending_n, next_addr = None, 0, 0
    in_block = False
    total = 0
    start, mark, stop = addresses["hwq_profile_start"], addresses["hwq_profile_mark"], addresses["hwq_profile_stop"]
    runs: list[list[dict]] = []
    events: list[tuple[str, int]] = []
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("IN:"):
                in_block, pending_pc, pending_n = True, None, 0
                continue
            if in_block:
                m = _IN_LINE.match(line)
                if m:
                    # Count Thumb instructions by their encoded length, not by disassembly lines: QEMU's
                    # disassembler prints v8.1-M instructions it does not know (dls, le, MVE) as two
                    # 16-bit halves.
                    addr = int(m[1], 16)
                    if pending_pc is None:
                        pending_pc, next_addr = addr, addr
                    if addr >= next_addr:
                        pending_n += 1
                        next_addr = addr + (4 if int(m[2], 16) >> 11 in (0b11101, 0b11110, 0b11111) else 2)
                    continue
                if not line.strip():
                    in_block = False
                continue
            if not line.startswith("Trace"):
                continue
            m = _TRACE.match(line)
            if m is None:
                continue
            ptr, pc = m[1], int(m[2], 16)
            if pending_pc is not None and pc == pending_pc:
                size_of[ptr] = pending_n
                pending_pc = None
            n = size_of.get(ptr)
            if n is None:
                raise McuRunError(f"{log_path}: executed block at {pc:#x} has no translation in the log")
            if pc == start:
                events = [("start", total)]
            elif pc == mark and events:
                events.append(("mark", total))
            elif pc == stop and events:
                events.append(("stop", total))
                segs, k = [], 0
                for (kind, at), (_, nxt) in zip(events, events[1:]):
                    segs.append({"from": kind, "index": k if kind == "mark" else -1, "instructions": nxt - at})
                    k += kind == "mark"
                runs.append(segs)
                events = []
            total += n
    return runs


def profile_layers(program, target: str, work) -> dict:
    """Run one vector under QEMU's execution log; per-layer instruction counts (layer i = from the call
    of HWQ_PROFILE_MARK(i) to the next marker or the end of the model run)."""
    log = Path(work) / "qemu_trace.log"
    status = run_program(program, target, work, trace_log=log)
    runs = count_segments(log, symbol_addresses(program))
    log.unlink(missing_ok=True)
    if not runs:
        raise McuRunError(f"{program}: no profiled model run found in the QEMU trace")
    segs = runs[0]
    layers = [s["instructions"] for s in segs if s["from"] == "mark"]
    return {
        "total_instructions": sum(s["instructions"] for s in segs),
        "prologue_instructions": sum(s["instructions"] for s in segs if s["from"] == "start"),
        "layer_instructions": layers,
        "profile_run_s": status["run_s"],
    }


def program_sizes(program) -> dict:
    """text/data/bss bytes of a Cortex-M program (``arm-none-eabi-size``)."""
    size = shutil.which("arm-none-eabi-size")
    if size is None:
        return {}
    out = subprocess.run([size, "-A", str(program)], capture_output=True, text=True).stdout
    sec = {p[0]: int(p[1]) for p in (line.split() for line in out.splitlines()) if len(p) >= 2 and p[1].isdigit()}
    return {"text_bytes": sec.get(".text", 0), "data_bytes": sec.get(".data", 0), "bss_bytes": sec.get(".bss", 0)}


#: arm-none-eabi-gcc architecture flags per CPU (as ``mcu/target/rules.mk``)
ARCH_FLAGS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
}


def stream_callback(manifest: dict) -> str | None:
    """The C name of the input-window callback a ``-O input=stream`` patch program calls
    (``hwq_<model>_read_input_window``, which the user writes), or None for a program that holds its input."""
    if manifest.get("patch", {}).get("input") != "stream":
        return None
    return manifest["entry"].removesuffix("_run") + "_read_input_window"


def model_flash_bytes(out_dir, cpu: str = "cortex-m4", elf=None) -> int:
    """Flash bytes of the emitted model alone as it lands in a firmware: text + data (``arm-none-eabi-size``)
    of the model's sources and the runtime in ``out_dir`` linked with ``arm-none-eabi-gcc -O2
    -ffunction-sections -fdata-sections -Wl,--gc-sections`` from the model's run entry (no harness, startup
    code or C library; a stream program's window callback, the user's code, left out), the figure
    ``hwq.cost.mcu``'s ``flash_bytes`` estimates. ``elf``: where to write the
    ELF (default: a temporary file). Raises McuRunError when the toolchain is missing or the link fails."""
    out_dir = Path(out_dir)
    gcc, size = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-size")
    if gcc is None or size is None:
        raise McuRunError("arm-none-eabi-gcc / arm-none-eabi-size not found (apt install gcc-arm-none-eabi)")
    if cpu not in ARCH_FLAGS:
        raise McuRunError(f"unknown CPU {cpu!r} (known: {', '.join(ARCH_FLAGS)})")
    manifest = load_manifest(out_dir)
    model = sorted(str(q) for q in out_dir.glob("hwq_*.c"))
    if "sources" in manifest:
        model = sorted({*model, *(str(out_dir / s) for s in manifest["sources"])})
    runtime = sorted(str(q) for q in (out_dir / "cmsis_nn" / "Source").glob("*.c"))
    rounding = ["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if manifest.get("single_rounding") else []
    # input=stream: the window callback is the user's code, not the model's; resolve it to address 0
    callback = stream_callback(manifest)
    unresolved = [f"-Wl,--defsym={callback}=0"] if callback else []
    with tempfile.TemporaryDirectory(prefix="hwq-flash-") as tmp:
        target = Path(elf) if elf is not None else Path(tmp) / f"{cpu}.elf"
        cmd = [
            gcc, *ARCH_FLAGS[cpu], "-O2", "-std=c99", *rounding, "-ffunction-sections", "-fdata-sections",
            "-nostartfiles", "-Wl,--gc-sections", f"-Wl,-e,{manifest['entry']}", *unresolved,
            f"-I{out_dir / 'cmsis_nn' / 'Include'}", f"-I{out_dir}", f"-I{out_dir / 'target'}", *model, *runtime,
            "-o", str(target),
        ]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise McuRunError(f"{out_dir}: linking the model alone for {cpu} failed: {r.stderr[-2000:]}")
        out = subprocess.run([size, str(target)], capture_output=True, text=True, check=True).stdout
    text, data = (int(x) for x in out.splitlines()[1].split()[:2])
    return text + data


def run_mcu(
    out_dir,
    graph,
    inputs_raw: dict,
    target: str = "host",
    cache_dir=None,
    cmsis_nn=None,
    profile: bool | None = None,
    **kw,
):
    """Build and run the emitted model on ``inputs_raw`` (raw integers, batch first, per graph input name).

    ``target``: ``host``, ``cortex-m4``, ``cortex-m7`` or ``cortex-m55`` (QEMU). ``profile`` (default: on for
    QEMU targets) adds a one-vector traced run for per-layer instruction counts. Returns (outputs: raw int64 arrays in
    graph-output order, extra: build_s, run_s, cached, vectors, target, single_rounding and, for QEMU,
    stack_bytes, arena_bytes, text/data/bss bytes of the whole program, model_flash_bytes (the model alone,
    ``model_flash_bytes``), layer_instructions, total_instructions).
    """
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    single = single_rounding(graph, manifest)
    program, extra = build(out_dir, target, single=single, cache_dir=cache_dir, cmsis_nn=cmsis_nn)
    work = Path(tempfile.mkdtemp(prefix="mcurun_", dir=program.parent.parent))
    try:
        n = write_vectors(work / "inputs.bin", graph, manifest, inputs_raw)
        status = run_program(program, target, work)
        if status["vectors"] != n:
            raise McuRunError(f"{program.name} on {target}: ran {status['vectors']} of {n} vectors")
        outs = read_vectors(work / "outputs.bin", graph, manifest, n)
        extra.update(status, target=target, single_rounding=single)
        if TARGETS[target][1] is not None:
            extra.update(program_sizes(program))
            if "entry" in manifest and (out_dir / "cmsis_nn" / "Source").is_dir():  # an emitted folder
                try:
                    extra["model_flash_bytes"] = model_flash_bytes(out_dir, target)
                except McuRunError as e:  # the size is a figure, not the verdict: report it, run on
                    extra["model_flash_error"] = str(e)
            if profile is None or profile:
                prof_program, prof_build = build(
                    out_dir, target, single=single, profile=True, cache_dir=cache_dir, cmsis_nn=cmsis_nn
                )
                first = {k: np.asarray(v)[:1] for k, v in inputs_raw.items()}
                write_vectors(work / "inputs.bin", graph, manifest, first)
                extra.update(profile_layers(prof_program, target, work))
                extra["profile_build_s"] = prof_build["build_s"]
        else:
            extra["stack_bytes"] = None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if kw.get("diagnose", True) and n:
        from hwq.ir import run

        bad = np.zeros(n, dtype=bool)
        for e, o in zip(run(graph, inputs_raw).outputs(), outs):
            bad |= (np.asarray(e).reshape(n, -1) != np.asarray(o).reshape(n, -1)).any(axis=1)
        if bad.any():
            try:
                extra.update(diverging_layer(out_dir, graph, inputs_raw, np.nonzero(bad)[0][:16], cache_dir))
            except McuRunError as e:  # a diagnosis that cannot run never hides the mismatch itself
                extra["first_diverging_layer"] = None
                extra["layer_dump_error"] = str(e)
    return outs, extra


def _dump_unity(manifest: dict, main_c: str) -> str:
    """A C file that includes the generated model ``main_c`` with ``HWQ_PROFILE_MARK(i)`` (called after
    step i - 1 of the run function) redefined to write step i - 1's output buffer (the arena placement of
    its tensor, or ``out``) to ``$HWQ_LAYER_DUMP_FILE``."""
    place = {p["name"]: p for p in manifest["memory"]["placements"] if p.get("kind") == "tensor"}
    outs = {o["name"] for o in manifest["outputs"]}
    cases = []
    for lay in manifest["layers"]:
        t = lay["output"]
        if t in place:
            src, size = f"arena + {int(place[t]['offset'])}", int(place[t]["size"])
        elif t in outs:
            src, size = "(const int8_t *)out", -1  # -1: the output's byte count, from HWQ_MODEL_OUTPUT_COUNT
        else:
            continue
        n = "(long)sizeof(hwq_model_out_t) * HWQ_MODEL_OUTPUT_COUNT" if size < 0 else str(size)
        cases.append(f"    case {int(lay['index']) + 1}: fwrite({src}, 1, (size_t){n}, hwq_dump_f); break;")
    return (
        "/* hwq layer dump build (sim/mcurun.py): the model with a dump after every step. */\n"
        '#include <stdint.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include "hwq_model.h"\n\n'
        "static FILE *hwq_dump_f;\n"
        "static void hwq_layer_dump(int mark, const int8_t *arena, const int8_t *out);\n"
        "#define HWQ_PROFILE_MARK(i) hwq_layer_dump((i), arena, (const int8_t *)out)\n"
        f'#include "{main_c}"\n\n'
        "static void hwq_layer_dump(int mark, const int8_t *arena, const int8_t *out)\n{\n"
        "    if (!hwq_dump_f) {\n"
        '        const char *path = getenv("HWQ_LAYER_DUMP_FILE");\n'
        '        hwq_dump_f = fopen(path ? path : "layers.bin", "wb");\n'
        "        if (!hwq_dump_f) return;\n    }\n"
        "    (void)arena;\n    (void)out;\n"
        "    switch (mark) {\n" + "\n".join(cases) + "\n    default: break;\n    }\n    fflush(hwq_dump_f);\n}\n"
    )


def layer_dump(out_dir, graph, inputs_raw: dict, cache_dir=None) -> dict[str, np.ndarray]:
    """Every step output of the emitted model run on the host on ``inputs_raw``: {IR tensor name: raw ints
    (vectors, *shape)}. A debug build (host gcc; the generated sources copied to a temporary folder, the
    model file included by ``_dump_unity``) writes each step's output buffer after the step; storage is
    decoded as the harness does for graph outputs (``storage_offset``; 3-D / 2-D tensors channel-last
    except after ``hwq_hwc_to_chw``). Steps whose tensor is not an IR tensor (layout copies) are left out."""
    out_dir = Path(out_dir).resolve()
    manifest = load_manifest(out_dir)
    missing = [k for k in ("memory", "layers") if k not in manifest]
    if missing:  # e.g. a hand-written model: no arena plan to find each step's output buffer in
        raise McuRunError(f"{out_dir / 'mcu.json'}: no {' / '.join(missing)} section, so no per-layer dump")
    sources = model_sources(out_dir, manifest)
    main_c = next((s for s in sources if s == f"{manifest.get('identifier', '')}.c"), None)
    main_c = main_c or next(s for s in sources if "weights" not in s and "/" not in s)
    single = single_rounding(graph, manifest)
    _tool("make", "the MCU build uses make")
    _tool("gcc", "the host build of the MCU model needs gcc")
    work = Path(tempfile.mkdtemp(prefix="mcudump_", dir=cache_dir))
    try:
        src = work / "src"
        src.mkdir()
        for f in out_dir.iterdir():
            if f.is_file() and f.suffix in (".c", ".h"):
                shutil.copyfile(f, src / f.name)
        for s in sources:
            if "/" in s:
                (src / s).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out_dir / s, src / s)
        (src / "hwq_dump_unity.c").write_text(_dump_unity(manifest, main_c))
        dump_srcs = ["hwq_dump_unity.c"] + [s for s in sources if s != main_c]
        lib_root = out_dir / "cmsis_nn" if (out_dir / "cmsis_nn" / "Include").exists() else RUNTIME_DIR
        target_dir = out_dir / "target" if (out_dir / "target" / "rules.mk").exists() else TARGET_DIR
        bdir = work / "build"
        cmd = [
            "make", "-s", "-f", str(target_dir / "rules.mk"), "CPU=host", f"CMSIS_NN={lib_root}",
            f"CMSIS_NN_USE_SINGLE_ROUNDING={int(single)}", f"MODEL_DIR={src}", f"MODEL_SRCS={' '.join(dump_srcs)}",
            f"BUILD_DIR={bdir}", "HWQ_PROFILE=0",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        if proc.returncode != 0:
            raise McuRunError(f"{out_dir}: layer-dump build failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        n = write_vectors(work / "inputs.bin", graph, manifest, inputs_raw)
        env = dict(os.environ, HWQ_LAYER_DUMP_FILE=str(work / "layers.bin"))
        run = subprocess.run(
            [str(bdir / "hwq_main"), "inputs.bin", "outputs.bin"], cwd=work, env=env, capture_output=True
        )
        if run.returncode != 0:
            raise McuRunError(f"{out_dir}: the layer-dump build exited with {run.returncode}")
        data = (work / "layers.bin").read_bytes() if (work / "layers.bin").exists() else b""
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _decode_dump(graph, manifest, data, n)


def _decode_dump(graph, manifest: dict, data: bytes, n: int) -> dict[str, np.ndarray]:
    place = {p["name"]: p for p in manifest["memory"]["placements"] if p.get("kind") == "tensor"}
    outs = {o["name"]: o for o in manifest["outputs"]}
    steps = []  # (tensor, bytes, dtype, storage offset)
    for lay in manifest["layers"]:
        t = lay["output"]
        if t in place:
            nbytes, off = int(place[t]["size"]), 0
        elif t in outs:
            nbytes, off = (
                int(outs[t]["count"]) * np.dtype(CTYPES[outs[t]["ctype"]]).itemsize,
                int(outs[t]["storage_offset"]),
            )
        else:
            continue
        ctype = outs[t]["ctype"] if t in outs else None
        steps.append((t, lay["function"], nbytes, ctype, off))
    per = sum(s[2] for s in steps)
    if per == 0 or len(data) != per * n:
        raise McuRunError(f"layer dump: {len(data)} bytes, expected {n} vectors x {per}")
    res: dict[str, np.ndarray] = {}
    buf = np.frombuffer(data, dtype=np.uint8).reshape(n, per)
    at = 0
    for t, func, nbytes, ctype, off in steps:
        chunk = buf[:, at : at + nbytes]
        at += nbytes
        if t not in graph.tensors:
            continue
        shape = graph.tensor(t).shape
        size = int(np.prod(shape))
        dt = np.dtype(CTYPES[ctype]) if ctype else (np.dtype(np.int8) if nbytes == size else np.dtype("<i2"))
        vals = np.ascontiguousarray(chunk).view(dt.newbyteorder("<"))[:, :size].astype(np.int64) - off
        if len(shape) >= 2 and not func.startswith("hwq_hwc_to_chw"):  # channel-last storage
            st = (shape[1:] + shape[:1]) if len(shape) >= 2 else shape
            vals = vals.reshape(n, *st).transpose(0, len(shape), *range(1, len(shape)))
        res[t] = vals.reshape(n, *shape)
    return res


def diverging_layer(out_dir, graph, inputs_raw: dict, vectors, cache_dir=None) -> dict:
    """``{"first_diverging_layer", "layer_errors"}`` for the emitted model on the ``vectors`` (indices into
    ``inputs_raw``): the first step output (graph order) that differs from the interpreter's tensor
    (``hwq.ir.trace.first_mismatch``), naming the layer (the op that writes the tensor), the vector (index
    into the full ``inputs_raw``), element (C order), raw and real expected / actual values. ``layer`` is
    the first op of the step that writes the tensor (``ops``: all of the step's ops)."""
    from hwq.ir.trace import first_mismatch

    vectors = np.asarray(vectors, dtype=np.int64)
    sub = {k: np.asarray(v)[vectors] for k, v in inputs_raw.items()}
    rep = first_mismatch(graph, sub, layer_dump(out_dir, graph, sub, cache_dir))
    if rep.ok:
        return {"first_diverging_layer": None}
    steps = {lay["output"]: lay for lay in load_manifest(out_dir)["layers"]}
    ops = steps.get(rep.tensor, {}).get("ops") or [next(op.name for op in graph.ops if op.output == rep.tensor)]
    layer = ops[0]  # the step (one CMSIS-NN call: e.g. a conv with its fused requantize) by its first op
    d = rep.diverging_record(graph, vectors, layer, ops=list(ops))
    return {"first_diverging_layer": d, "layer_errors": {layer: rep.count}}
