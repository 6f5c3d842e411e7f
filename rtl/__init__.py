"""hwq.rtl: multiplier-free Verilog from IR graphs (CSD digits, shared adder graphs, valid/ready streams).

``emit(graph, out_dir, ...)`` writes the Verilog; ``synth_report(out_dir)`` runs yosys; ``lint(out_dir)``
runs ``verilator --lint-only -Wall``. ``supports(op, graph) -> None | reason`` (``REGISTRY``: one entry per
op kind, ``rtl/ops.py``) is the capability query emit, cost and explore share.
"""

from .datapath import RtlError
from .emit import emit
from .ops import REGISTRY, supports
from .tools import lint, synth_report

__all__ = ["REGISTRY", "RtlError", "emit", "lint", "supports", "synth_report"]
