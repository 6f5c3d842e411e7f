"""C-simulation of an emitted HLS project: g++ build against hls4ml's ap_types headers, raw-integer I/O.

``run_csim(out_dir, graph, inputs_raw, **kw) -> (outputs, extra)`` is the ``hwq verify hls`` runner (see
``hwq.sim.verify``). The binary is built once per source content: it is cached as
``<cache_dir>/<top>_csim_<sha>`` (default cache_dir: ``out_dir/csim_build``), where sha hashes every
firmware and test bench file, the compiler, its flags and the ap_types headers' location. Builds write
to a temporary name and are renamed into place, so concurrent runs (pytest -n) are safe.

A project with ``firmware/weights.cpp`` is built as two translation units compiled side by side: the
parameter arrays at ``WEIGHTS_OPT`` (-O0 -fno-exceptions) and the layer code with the test bench at ``CXX_FLAGS``
(-O2), both with ``HWQ_EXTERN_WEIGHTS`` (see hwq_hls.h); older projects as one unit.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

#: g++ flags of the C-simulation build (the ap_types headers are included as system headers). The
#: generated files must compile without a single diagnostic under -Wall -Wextra; the compiler's output
#: is kept next to the binary as ``<binary>.log``.
CXX_FLAGS = ("-O2", "-std=c++14", "-Wall", "-Wextra")

#: flags of the parameter translation unit (firmware/weights.cpp): it only runs constant initialisers
#: once at start-up. At -O2 g++ spends most of a build optimising them; and with exceptions enabled, g++
#: builds an unwinding path for every one of the thousands of ap_fixed constructor calls (the
#: "callgraph ipa passes" of -ftime-report: 14.6 s of a 15 s build of the digits MLP's weights, 3.1 s with
#: -fno-exceptions). Nothing in that unit throws, so exceptions are off there; the test bench keeps them.
WEIGHTS_OPT = ("-O0", "-fno-exceptions")


_PROJECT = "{PROJECT}"


class CsimError(RuntimeError):
    """The C-simulation could not be built or run; the message names the file or tool."""


def ap_types_dir() -> Path:
    """The ``ap_types`` folder (ap_fixed.h, ap_int.h, hls_stream.h) shipped inside the hls4ml wheel."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.origin:
        raise CsimError("hls4ml is not installed: its ap_types headers are needed to build the C-simulation")
    path = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").exists():
        raise CsimError(f"{path}: ap_fixed.h not found in the installed hls4ml")
    return path


def find_compiler(name: str = "g++") -> str:
    """Path of the C++ compiler, or CsimError saying it is missing."""
    path = shutil.which(name)
    if path is None:
        raise CsimError(f"{name} not found on PATH: install g++ to run the HLS C-simulation")
    return path


def project_top(out_dir) -> str:
    """The top function name of an emitted project (from ``tb/<top>_test.cpp``)."""
    out_dir = Path(out_dir)
    benches = sorted((out_dir / "tb").glob("*_test.cpp"))
    if len(benches) != 1:
        raise CsimError(f"{out_dir}: expected one tb/<top>_test.cpp written by 'hwq emit hls', found {len(benches)}")
    return benches[0].name[: -len("_test.cpp")]


def _sources(out_dir: Path) -> list[Path]:
    files = [p for d in ("firmware", "tb") for p in sorted((out_dir / d).rglob("*")) if p.is_file()]
    return [p for p in files if p.suffix in (".h", ".hpp", ".cpp", ".cc")]


def build_command(out_dir, output, unity=None, compiler: str | None = None, defines: tuple = ()) -> list[str]:
    """The g++ command line that builds the project's test bench into ``output``.

    With ``unity`` (a path), the firmware and test bench are compiled as one translation unit through
    that file (see ``write_unity``), which parses the ap_types headers once instead of twice. ``defines``:
    extra ``-D`` flags (e.g. ``-DHWQ_LAYER_DUMP``, the bench's per-layer dump).
    """
    out_dir = Path(out_dir)
    top = project_top(out_dir)
    cxx = compiler or find_compiler()
    sources = (
        [str(unity)] if unity else [str(out_dir / "firmware" / f"{top}.cpp"), str(out_dir / "tb" / f"{top}_test.cpp")]
    )
    return [
        cxx,
        *CXX_FLAGS,
        *defines,
        f"-I{out_dir / 'firmware'}",
        f"-I{out_dir / 'tb'}",
        "-isystem",
        str(ap_types_dir()),
        *sources,
        "-o",
        str(output),
    ]


def split_build_commands(out_dir, output, unity, compiler: str | None = None, defines: tuple = ()) -> list[list[str]]:
    """The g++ commands of a project with firmware/weights.cpp: [weights object, code object, link].

    Both objects are built with HWQ_EXTERN_WEIGHTS (see hwq_hls.h): the code (top + test bench, one
    translation unit through ``unity``) with ``CXX_FLAGS``, the parameter arrays at ``WEIGHTS_OPT``.
    The two compilations are independent and run side by side."""
    out_dir = Path(out_dir)
    cxx = compiler or find_compiler()
    inc = [f"-I{out_dir / 'firmware'}", f"-I{out_dir / 'tb'}", "-isystem", str(ap_types_dir()), "-DHWQ_EXTERN_WEIGHTS"]
    flags = [f for f in CXX_FLAGS if not f.startswith("-O")]
    w_obj, c_obj = f"{output}.weights.o", f"{output}.code.o"
    return [
        [cxx, *WEIGHTS_OPT, *flags, *inc, "-c", str(out_dir / "firmware" / "weights.cpp"), "-o", w_obj],
        [cxx, *CXX_FLAGS, *defines, *inc, "-c", str(unity), "-o", c_obj],
        [cxx, c_obj, w_obj, "-o", str(output)],
    ]


def _run_split_build(commands: list[list[str]]) -> subprocess.CompletedProcess:
    """Run the two compilations of ``split_build_commands`` concurrently, then the link; returns a
    CompletedProcess with the first failing return code (0 if none) and every compiler's stderr."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands[:2]]
    errs, rc = [], 0
    for p in procs:
        _, err = p.communicate()
        errs.append(err)
        rc = rc or p.returncode
    if rc == 0:
        link = subprocess.run(commands[2], capture_output=True, text=True)
        errs.append(link.stderr)
        rc = link.returncode
    for c in commands[:2]:
        Path(c[-1]).unlink(missing_ok=True)
    return subprocess.CompletedProcess(commands[-1], rc, "", "".join(errs))


def write_unity(out_dir, path) -> Path:
    """A one-line-per-file C++ source including the project's top and test bench by absolute path."""
    out_dir = Path(out_dir).resolve()
    top = project_top(out_dir)
    text = f'#include "{out_dir / "firmware" / f"{top}.cpp"}"\n#include "{out_dir / "tb" / f"{top}_test.cpp"}"\n'
    Path(path).write_text(text)
    return Path(path)


def build(out_dir, cache_dir=None, defines: tuple = ()) -> tuple[Path, dict]:
    """Build (or reuse) the C-simulation binary; returns (path, figures: build_s, cached, compiler_output).
    ``defines``: extra ``-D`` flags (a separate cached binary).

    Concurrent builds of the same sources wait for each other (a lock file per binary) instead of
    compiling twice; the binary is renamed into place only when complete.
    """
    out_dir = Path(out_dir)
    top = project_top(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "csim_build"
    h = hashlib.sha256()
    split = (out_dir / "firmware" / "weights.cpp").exists()
    flags = [*CXX_FLAGS, *defines, *(["-DHWQ_EXTERN_WEIGHTS", "weights:" + " ".join(WEIGHTS_OPT)] if split else [])]
    h.update(" ".join([find_compiler(), *flags]).encode())  # not the project path: same sources, same binary
    h.update(str(ap_types_dir()).encode())
    for p in _sources(out_dir):
        h.update(p.relative_to(out_dir).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    binary = cache_dir / f"{top}_csim_{h.hexdigest()[:20]}"
    log = binary.with_name(binary.name + ".log")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(binary.with_name(binary.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = str(out_dir.resolve())
        if binary.exists():  # the log names files relative to a placeholder for the project folder
            text = log.read_text().replace(_PROJECT, root) if log.exists() else ""
            return binary, {"build_s": 0.0, "cached": True, "compiler_output": text}
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{binary.name}.", suffix=".tmp")
        os.close(fd)
        unity = write_unity(out_dir, binary.with_name(binary.name + ".unity.cpp"))
        t0 = time.perf_counter()
        try:
            if split:
                proc = _run_split_build(split_build_commands(out_dir, tmp, unity, defines=defines))
            else:
                proc = subprocess.run(
                    build_command(out_dir, tmp, unity, defines=defines), capture_output=True, text=True
                )
            if proc.returncode != 0:
                raise CsimError(f"{out_dir}: g++ build of the C-simulation failed:\n{proc.stderr[-4000:]}")
            log.write_text(proc.stderr.replace(root, _PROJECT))
            os.replace(tmp, binary)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return binary, {"build_s": round(time.perf_counter() - t0, 3), "cached": False, "compiler_output": proc.stderr}


def generated_file_diagnostics(out_dir, compiler_output: str) -> list[str]:
    """Compiler warning/error lines located in the project's own files (not the vendor headers)."""
    root = str(Path(out_dir).resolve())
    out = []
    for line in compiler_output.splitlines():
        m = re.match(r"^([^:\s]+):\d+(?::\d+)?: (warning|error):", line)
        if m and str(Path(m.group(1)).resolve()).startswith(root):
            out.append(line)
    return out


def _wide(graph, names) -> bool:
    return any(getattr(graph.tensor(n).fmt, "width", 0) > 62 or _raw_bits(graph.tensor(n).fmt) > 62 for n in names)


def _raw_bits(fmt) -> int:
    return int(getattr(fmt, "raw_bits", getattr(fmt, "width", 0)))


def write_inputs(path, graph, inputs_raw: dict) -> int:
    """Write inputs.txt (see hwq.hls.testbench); returns the number of vectors."""
    from hwq.hls.testbench import vectors_text

    missing = [n for n in graph.inputs if n not in inputs_raw]
    if missing:
        raise CsimError(f"no values given for graph input(s) {', '.join(missing)}")
    text = vectors_text(graph, inputs_raw)
    Path(path).write_text(text)
    return text.count("\n")


def read_outputs(path, graph, count: int) -> list[np.ndarray]:
    """Parse outputs.txt into one raw integer array (count, *shape) per graph output."""
    tokens = Path(path).read_text().split()
    sizes = [graph.tensor(n).size for n in graph.outputs]
    per = sum(sizes)
    if len(tokens) != per * count:
        raise CsimError(f"{path}: expected {count} vectors of {per} integers, got {len(tokens)} integers")
    if _wide(graph, graph.outputs):
        flat = np.array([int(t) for t in tokens], dtype=object).reshape(count, per)
    else:
        flat = np.array(tokens, dtype=np.int64).reshape(count, per) if count else np.zeros((0, per), np.int64)
    outs, k = [], 0
    for n, s in zip(graph.outputs, sizes):
        outs.append(flat[:, k : k + s].reshape(count, *graph.tensor(n).shape))
        k += s
    return outs


def run_csim(out_dir, graph, inputs_raw: dict, cache_dir=None, diagnose: bool = True, **kw):
    """Build and run the C-simulation on ``inputs_raw`` (raw integers, batch first, per input name).

    Returns (outputs: raw integer arrays in graph-output order, extra: build_s, run_s, cached, vectors).
    One binary run processes every vector. With ``diagnose`` and outputs that differ from the
    interpreter's, the debug build (``-DHWQ_LAYER_DUMP``) reruns the first mismatching vectors and
    ``extra["first_diverging_layer"]`` names the first op whose output differs (``diverging_layer``).
    """
    out_dir = Path(out_dir)
    binary, extra = build(out_dir, cache_dir)
    work = Path(tempfile.mkdtemp(prefix="run_", dir=binary.parent))
    try:
        n = write_inputs(work / "inputs.txt", graph, inputs_raw)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(binary), str(work / "inputs.txt"), str(work / "outputs.txt")], capture_output=True, text=True
        )
        run_s = time.perf_counter() - t0
        if proc.returncode != 0:
            raise CsimError(f"{out_dir}: the C-simulation exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
        outs = read_outputs(work / "outputs.txt", graph, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    warnings = generated_file_diagnostics(out_dir, extra.pop("compiler_output"))
    extra.update({"run_s": round(run_s, 3), "vectors": n, "binary": binary.name, "warnings": warnings})
    if diagnose and n:
        from hwq.ir import run

        expected = run(graph, inputs_raw).outputs()
        bad = np.zeros(n, dtype=bool)
        for e, o in zip(expected, outs):
            bad |= (np.asarray(e).reshape(n, -1).astype(object) != np.asarray(o).reshape(n, -1).astype(object)).any(1)
        if bad.any():
            try:
                extra.update(diverging_layer(out_dir, graph, inputs_raw, np.nonzero(bad)[0][:16], cache_dir))
            except CsimError as e:  # a diagnosis that cannot run never hides the mismatch itself
                extra["first_diverging_layer"] = None
                extra["layer_dump_error"] = str(e)
    return outs, extra


def layer_dump(out_dir, graph, inputs_raw: dict, cache_dir=None) -> dict[str, np.ndarray]:
    """Every op output of the C-simulation on ``inputs_raw``: {tensor name: raw ints (vectors, size)}, from
    the test bench's debug build (``-DHWQ_LAYER_DUMP``, ``hwq.hls.testbench.layer_dump_lines``; array
    strategies; a stream-strategy bench dumps nothing and raises CsimError)."""
    out_dir = Path(out_dir)
    binary, _ = build(out_dir, cache_dir, defines=("-DHWQ_LAYER_DUMP",))
    work = Path(tempfile.mkdtemp(prefix="dump_", dir=binary.parent))
    try:
        n = write_inputs(work / "inputs.txt", graph, inputs_raw)
        env = dict(os.environ, HWQ_LAYER_DUMP_FILE=str(work / "layers.txt"))
        proc = subprocess.run(
            [str(binary), str(work / "inputs.txt"), str(work / "outputs.txt")], capture_output=True, text=True, env=env
        )
        if proc.returncode != 0:
            raise CsimError(f"{out_dir}: the C-simulation debug build exited with {proc.returncode}")
        path = work / "layers.txt"
        rows = [ln.split() for ln in path.read_text().splitlines()] if path.exists() else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not rows:
        raise CsimError(f"{out_dir}: the test bench wrote no layer dump (stream strategy, or an older bench)")
    names = [op.output for op in graph.ops]
    out: dict[str, list] = {t: [None] * n for t in names}
    for r in rows:
        k, v = int(r[0]), int(r[1])
        out[names[k]][v] = [int(x) for x in r[2:]]
    return {t: np.array(vals, dtype=object) for t, vals in out.items() if all(x is not None for x in vals)}


def diverging_layer(out_dir, graph, inputs_raw: dict, vectors, cache_dir=None) -> dict:
    """``{"first_diverging_layer": ..., "layer_errors": ...}`` for the C-simulation on the ``vectors``
    (indices into ``inputs_raw``): the first op (graph order) whose output tensor differs from the
    interpreter's (``hwq.ir.trace.first_mismatch``), with vector (index into the full ``inputs_raw``),
    tensor, element index (C order), expected/got raw and real values; ``layer_errors``: mismatching
    elements of that layer over those vectors."""
    from hwq.ir.trace import first_mismatch

    vectors = np.asarray(vectors, dtype=np.int64)
    sub = {k: np.asarray(v)[vectors] for k, v in inputs_raw.items()}
    dump = layer_dump(out_dir, graph, sub, cache_dir)
    rep = first_mismatch(graph, sub, dump)
    if rep.ok:
        return {"first_diverging_layer": None}
    layer = next(op.name for op in graph.ops if op.output == rep.tensor)
    d = rep.diverging_record(graph, vectors, layer)
    return {"first_diverging_layer": d, "layer_errors": {layer: rep.count}}
