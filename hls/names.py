"""C++ identifiers of a graph's tensors and ops, sanitised from user-supplied names and kept distinct.

Every identifier the generated code declares at file scope is derived here:

- tensor ``t``: variable ``<t>`` (top function; ``<t>_local`` / ``<t>_copies`` when an output is
  also read, or a stream has several readers), type ``<t>_t``;
- op ``o``: function ``<o>`` (and ``<o>_stream``, its stream wrapper), parameter arrays ``<o>_w`` /
  ``<o>_b`` / ``<o>_<param>``, types
  ``<o>_weight_t`` / ``<o>_bias_t`` / ``<o>_accum_t`` / ``<o>_<role>_t``;
- the top function (the sanitised graph name).

A tensor named like an op (typically the op's own output, as trained graphs name them) is called
``<t>_out`` (type ``<t>_out_t``). Names that a derived identifier could still collide with (another
tensor's type, a C++ or HLS name such as ``main`` or ``ap_fixed``) get a ``_2``, ``_3``, ... suffix on the op
or tensor base name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hwq.io import sanitize_identifier

#: identifiers the generated code or its headers use at file scope. (Layer functions name their
#: parameters ``x``/``y`` and loop counters with single letters; these only shadow file-scope names
#: that the body does not use, so user tensors may be called ``x``.)
RESERVED = frozenset(
    """main std hls ap_fixed ap_ufixed ap_int ap_uint ap_int_base ap_fixed_base ap_range_ref ap_q_mode ap_o_mode
    hwq_raw hwq_from_raw hwq_set_raw hwq_raw_text HWQ_PRAGMA NULL assert printf exit abs min max size_t""".split()
)

#: suffixes appended to an op base name for its file-scope declarations.
OP_SUFFIXES = ("", "_stream", "_w", "_b", "_weight_t", "_bias_t", "_accum_t", "_prod_t", "_table", "_scale", "_shift")
#: suffixes appended to a tensor base name.
TENSOR_SUFFIXES = ("", "_t", "_local", "_copies", "_s", "_port", "_port_s")


@dataclass
class Names:
    """Identifier table; ``tensor[name]`` and ``op[name]`` give the sanitised base identifiers."""

    top: str
    tensor: dict[str, str] = field(default_factory=dict)
    op: dict[str, str] = field(default_factory=dict)

    def tensor_type(self, tensor_name: str) -> str:
        """The typedef name of a tensor's element type."""
        return self.tensor[tensor_name] + "_t"


def assign_names(graph) -> Names:
    """Distinct C++ identifiers for the graph's top function, tensors and ops (deterministic)."""
    used: set[str] = set(RESERVED)

    def take(base: str, suffixes: tuple[str, ...]) -> str:
        cand, k = base, 2
        while any(cand + s in used for s in suffixes):
            cand, k = f"{base}_{k}", k + 1
        for s in suffixes:
            used.add(cand + s)
        return cand

    top = take(sanitize_identifier(graph.name or "hwq_top", "net"), ("", "_t", "_test"))
    names = Names(top)
    # Ops first: layer functions and their parameters keep the user's layer names; a tensor named like
    # its producing op (common in trained graphs) gets the suffix.
    for o in graph.ops:
        names.op[o.name] = take(sanitize_identifier(o.name, "op"), OP_SUFFIXES)
    op_bases = set(names.op.values())
    for t in graph.tensors:
        base = sanitize_identifier(t, "t")
        if base in op_bases:  # named like an op (its producer, usually): <t>_out, not a numbered <t>_2
            base += "_out"
        names.tensor[t] = take(base, TENSOR_SUFFIXES)
    return names
