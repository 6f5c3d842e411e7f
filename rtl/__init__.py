"""hwq.rtl: multiplier-free Verilog from IR graphs (CSD digits, shared adder graphs, valid/ready streams).

``emit(graph, out_dir, ...)`` writes the Verilog; ``synth_report(out_dir)`` runs yosys; ``lint(out_dir)``
runs ``verilator --lint-only -Wall``.
"""

from .datapath import RtlError
from .emit import emit
from .tools import lint, synth_report

__all__ = ["RtlError", "emit", "lint", "synth_report"]
