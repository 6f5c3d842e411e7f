"""The generated C++ test bench, its sample vectors, and the vitis_hls ``build.tcl``.

Test bench protocol (also used by ``hwq.sim.csim``): ``<top>_test [inputs.txt [outputs.txt [expected.txt]]]``.
Each line of inputs.txt holds one vector: the raw integers of every graph input, flattened in C order,
inputs in graph order, separated by spaces. The bench writes one line per vector to outputs.txt with the
raw integers of every output, likewise. With an expected file it compares line by line, prints
``csim: N vectors, M mismatches`` and exits 1 on any mismatch. With no arguments it uses tb_data/.
"""

from __future__ import annotations

import numpy as np

from hwq.io import provenance_lines

from .cpp import comment_block


def _line(arrays: list[np.ndarray], v: int) -> str:
    return " ".join(" ".join(str(int(x)) for x in np.asarray(a[v]).ravel()) for a in arrays)


def vectors_text(graph, inputs_raw: dict) -> str:
    """inputs.txt text: one line per vector, every input's raw integers in graph order."""
    arrays = [inputs_raw[n] for n in graph.inputs]
    count = arrays[0].shape[0] if arrays else 0
    return "".join(_line(arrays, v) + "\n" for v in range(count))


def sample_vectors(graph, n: int, seed: int) -> tuple[str, str]:
    """(inputs.txt, expected.txt) texts of n random vectors and the interpreter's outputs on them."""
    from hwq.ir import run
    from hwq.ir.random_graph import random_inputs

    inputs = random_inputs(graph, n, seed)
    outs = run(graph, inputs).outputs()
    return vectors_text(graph, inputs), "".join(_line(outs, v) + "\n" for v in range(n))


def testbench_cpp(p) -> str:
    """The test bench source for project ``p`` (an ``hls.project._Project``)."""
    g = p.graph
    stream = p.strategy == "stream"
    decl, read, call_args, write = [], [], [], []
    for t in g.inputs:
        v, n = p.tvar(t), p.size(t)
        decl.append(f"static {p.ttype(t)} {v}[{n}];")
        read.append(f"for (int i = 0; i < {n}; i++) {{")
        read.append(f'    if (!(ss >> tok)) return hwq_bad_line(in_path, line_no, "too few values for input {v}");')
        read.append(f"    hwq_set_raw({v}[i], tok);")
        if stream:
            read.append(f"    {v}_s.write({v}[i]);")
        read.append("}")
        call_args.append(f"{v}_s" if stream else v)
    for t in g.outputs:
        v, n = p.out_port(t), p.size(t)
        decl.append(f"static {p.ttype(t)} {v}[{n}];")
        call_args.append(f"{v}_s" if stream else v)
        write.append(f"for (int i = 0; i < {n}; i++) {{")
        if stream:
            write.append(f"    {v}[i] = {v}_s.read();")
        write.append(f'    os << (first ? "" : " ") << hwq_raw_text({v}[i]);')
        write.append("    first = false;")
        write.append("}")
    if stream:
        decl += [f"hls::stream<{p.ttype(t)}> {p.tvar(t)}_s;" for t in g.inputs]
        decl += [f"hls::stream<{p.ttype(t)}> {p.out_port(t)}_s;" for t in g.outputs]
    dump_decl, dump = ([], []) if stream else layer_dump_lines(p)
    ind = "        "
    io_doc = [f"input  {t!r}: {g.tensor(t).fmt}, {g.tensor(t).size} raw integers" for t in g.inputs]
    io_doc += [f"output {t!r}: {g.tensor(t).fmt}, {g.tensor(t).size} raw integers" for t in g.outputs]
    return (
        p.header(f"C++ test bench of {g.name!r}: raw integers in, raw integers out (see hwq.hls.testbench).")
        + comment_block(
            ["", "usage: <top>_test [inputs.txt [outputs.txt [expected.txt]]] (default: tb_data/)"] + io_doc
        )
        + "\n\n#include <fstream>\n#include <iostream>\n#include <sstream>\n#include <string>\n\n"
        + f'#include "{p.top}.h"\n#include "hwq_tb.h"\n'
        + ('#ifdef HWQ_LAYER_DUMP\n#include <cstdlib>\n#include "layers.h"\n#endif\n' if dump else "")
        + "\n"
        + "static int hwq_bad_line(const char* path, long line_no, const char* what) {\n"
        + '    std::cerr << path << ":" << line_no << ": " << what << std::endl;\n'
        + "    return 2;\n}\n\n"
        + "int main(int argc, char** argv) {\n"
        + '    const char* in_path = argc > 1 ? argv[1] : "tb_data/inputs.txt";\n'
        + '    const char* out_path = argc > 2 ? argv[2] : "tb_data/outputs.txt";\n'
        + '    const char* exp_path = argc > 3 ? argv[3] : (argc > 1 ? 0 : "tb_data/expected.txt");\n'
        + "    std::ifstream fin(in_path);\n"
        + "    if (!fin) {\n"
        + '        std::cerr << "cannot read " << in_path << std::endl;\n'
        + "        return 2;\n    }\n"
        + "    std::ofstream fout(out_path);\n"
        + "    if (!fout) {\n"
        + '        std::cerr << "cannot write " << out_path << std::endl;\n'
        + "        return 2;\n    }\n"
        + "    std::ifstream fexp;\n"
        + "    if (exp_path) fexp.open(exp_path);\n"
        + "".join(f"    {d}\n" for d in decl)
        + ("#ifdef HWQ_LAYER_DUMP\n" + "".join(f"    {d}\n" for d in dump_decl) + "#endif\n" if dump else "")
        + "    std::string line, tok, want;\n"
        + "    long line_no = 0, vectors = 0, mismatches = 0;\n"
        + "    while (std::getline(fin, line)) {\n"
        + "        line_no++;\n"
        + "        if (line.empty() || line[0] == '#') continue;\n"
        + "        std::istringstream ss(line);\n"
        + "".join(ind + ln + "\n" for ln in read)
        + f"        {p.top}({', '.join(call_args)});\n"
        + ("#ifdef HWQ_LAYER_DUMP\n" + "".join(ind + ln + "\n" for ln in dump) + "#endif\n" if dump else "")
        + "        std::ostringstream os;\n"
        + "        bool first = true;\n"
        + "".join(ind + ln + "\n" for ln in write)
        + "        fout << os.str() << '\\n';\n"
        + "        if (fexp.is_open() && std::getline(fexp, want) && want != os.str()) {\n"
        + '            if (mismatches < 10) std::cerr << "mismatch in vector " << vectors << std::endl;\n'
        + "            mismatches++;\n"
        + "        }\n"
        + "        vectors++;\n"
        + "    }\n"
        + "    fout.close();\n"
        + '    std::cout << "csim: " << vectors << " vectors, " << mismatches << " mismatches" << std::endl;\n'
        + "    return mismatches ? 1 : 0;\n"
        + "}\n"
    )


def layer_dump_lines(p) -> tuple[list[str], list[str]]:
    """The debug build's per-layer dump (``-DHWQ_LAYER_DUMP``; array strategies): (declarations in main,
    statements after the top call). The bench calls the layer functions of ``layers.h`` in graph order on
    its own copies of every intermediate tensor, as the top function does, and writes one line per vector
    and op to ``$HWQ_LAYER_DUMP_FILE`` (default ``tb_data/layers.txt``): the op's index in graph order,
    the vector's index, then the raw integers of its output tensor (C order). ``hwq.sim.csim`` compares
    them with the interpreter's tensors and names the first diverging layer."""
    g = p.graph
    var = {t: p.tvar(t) for t in g.inputs}
    decl = [
        'const char* hwq_dump_path = std::getenv("HWQ_LAYER_DUMP_FILE");',
        'std::ofstream hwq_dump(hwq_dump_path ? hwq_dump_path : "tb_data/layers.txt");',
    ]
    body = []
    for k, op in enumerate(g.ops):
        t = op.output
        v = f"hwq_dbg_{p.tvar(t)}"
        decl.append(f"static {p.ttype(t)} {v}[{p.size(t)}];")
        args = [var[i] for i in op.inputs] + [v]
        var[t] = v
        body += [
            f"{p.names.op[op.name]}({', '.join(args)});",
            f'hwq_dump << "{k} " << vectors;',
            f'for (int i = 0; i < {p.size(t)}; i++) hwq_dump << " " << hwq_raw_text({v}[i]);',
            "hwq_dump << '\\n';",
        ]
    return decl, body


def build_tcl(p) -> str:
    """vitis_hls script: csim, csynth and cosim of the project, usable unchanged."""
    part = p.options.get("part", "xcu250-figd2104-2L-e")
    clock = p.options.get("clock_period", 5)
    lines = [
        f"Vitis HLS build of {p.graph.name!r} (strategy {p.strategy}, reuse factor {p.rf}).",
        "usage: vitis_hls -f build.tcl      (run from this folder)",
        "Edit 'steps' to skip stages; csim and cosim compare with tb_data/expected.txt (hwq's interpreter).",
        "",
    ] + provenance_lines(p.command, p.hash)
    head = "\n".join(("# " + ln).rstrip() for ln in lines)
    cflags = "-std=c++14 -Ifirmware"
    return (
        head
        + "\n\n"
        + f"set part {part}\n"
        + f"set clock_period {clock}\n"
        + "set steps {csim csynth cosim}\n\n"
        + f"open_project -reset {p.top}_prj\n"
        + f"set_top {p.top}\n"
        + f'add_files firmware/{p.top}.cpp -cflags "{cflags}"\n'
        + f'add_files -tb tb/{p.top}_test.cpp -cflags "{cflags} -Itb"\n'
        + "add_files -tb tb_data\n"
        + "open_solution -reset solution1 -flow_target vivado\n"
        + "set_part $part\n"
        + "create_clock -period $clock_period -name default\n\n"
        + "if {[lsearch $steps csim] >= 0} { csim_design }\n"
        + "if {[lsearch $steps csynth] >= 0} { csynth_design }\n"
        + "if {[lsearch $steps cosim] >= 0} { cosim_design }\n"
        + "exit\n"
    )
