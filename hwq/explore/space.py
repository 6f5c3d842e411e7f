"""The search space of ``hwq explore``: per searchable layer (every Dense/Conv), one choice of weight
format, activation width and result ("accumulator output") width.

Format names used in space files and in ``pareto.json``:

- ``fixed<W>`` / ``fixedW`` (W = 2..16): signed fixed point, W bits, binary point calibrated (PTQ);
- ``csd<k>`` / ``csdK``: 8-bit fixed point with at most k non-zero signed digits (multiplier-free);
- ``e4m3``, ``e3m2``, ``e2m1``, ``e5m2``: minifloats (``e4m3fn`` ... in ``hwq.formats`` spelling),
  exponent bias calibrated;
- ``int8`` / ``int4``: MCU weights. On an MCU target every candidate is a CMSIS-NN profile model
  (``hwq.nn.cmsis``: per-channel real scales, int8 activations with zero points; ``act`` must be 8 and
  ``acc`` is not used); on an FPGA target they are 8-/4-bit fixed point with a power-of-two scale.

Activation widths ``act`` (unsigned fixed point after ReLU, bits) and result widths ``acc`` (the signed
fixed-point format the layer's accumulator is cast to, bits) are integers.

A space file (TOML)::

    [space]
    weight = ["fixed4", "fixed8", "csd2", "e4m3"]   # every layer
    act = [4, 8]
    acc = [12]
    [space.layers.fc3]                              # per-layer restriction
    weight = ["fixed8"]
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

DIMS = ("weight", "act", "acc")

_FLOATS = {"e4m3": "e4m3fn", "e3m2": "e3m2fn", "e2m1": "e2m1fn", "e5m2": "e5m2"}


class SpaceError(ValueError):
    """A bad search space; the message names the key."""


def weight_spec(name: str, where: str = "space.weight") -> dict:
    """The ``hwq.nn`` quantiser spec (a table) of a weight-format name (see the module docstring)."""
    s = str(name).strip().lower().replace(" ", "")
    m = re.fullmatch(r"fixed<?(\d+)>?", s)
    if m and 2 <= int(m.group(1)) <= 16:
        return {"kind": "fixed", "width": int(m.group(1)), "int_bits": "calibrate"}
    m = re.fullmatch(r"int<?(\d+)>?", s)
    if m and int(m.group(1)) in (4, 8):
        return {"kind": "fixed", "width": int(m.group(1)), "int_bits": "calibrate"}
    m = re.fullmatch(r"csd<?(\d+)>?", s)
    if m and 1 <= int(m.group(1)) <= 4:
        return {"kind": "csd", "width": 8, "digits": int(m.group(1)), "int_bits": "calibrate"}
    base = s.removesuffix("fn")
    if base in _FLOATS:
        return {"kind": "float", "name": _FLOATS[base], "bias": "calibrate"}
    raise SpaceError(
        f"{where}: unknown weight format {name!r}; expected fixed<W> (W 2..16), csd<k> (k 1..4), int8, int4, "
        f"{', '.join(_FLOATS)}"
    )


def canonical_weight(name: str) -> str:
    """The canonical spelling of a weight-format name (``fixed8`` -> ``fixed<8>``, ``e4m3fn`` -> ``e4m3``)."""
    s = str(name).strip().lower().replace(" ", "")
    weight_spec(s)
    for pat, fmt in ((r"fixed<?(\d+)>?", "fixed<{}>"), (r"int<?(\d+)>?", "int{}"), (r"csd<?(\d+)>?", "csd<{}>")):
        m = re.fullmatch(pat, s)
        if m:
            return fmt.format(int(m.group(1)))
    return s.removesuffix("fn")


def weight_bits(name: str) -> int:
    """Stored bits of one weight of a weight-format name."""
    spec = weight_spec(name)
    if spec["kind"] == "float":
        e, m = re.fullmatch(r"e(\d)m(\d)fn?", spec["name"]).groups()
        return 1 + int(e) + int(m)
    return int(spec["width"])


@dataclass(frozen=True)
class Choice:
    """One layer's choice: weight-format name, activation width (bits, None for the output layer), result
    width (bits)."""

    weight: str
    act: int | None
    acc: int

    def as_dict(self) -> dict:
        """JSON form."""
        return {"weight": self.weight, "act": self.act, "acc": self.acc}


@dataclass
class Space:
    """Per searchable layer (Dense/Conv name, in model order): the options of each dimension.

    ``act_layer[name]`` is the activation layer (ReLU) that follows it, or None (the output layer).
    """

    layers: list[str]
    options: dict[str, dict[str, list]]
    act_layer: dict[str, str | None] = field(default_factory=dict)

    def choices(self, layer: str) -> list[Choice]:
        """Every choice of one layer, in a fixed order (weight, then act, then acc)."""
        o = self.options[layer]
        acts = o["act"] if self.act_layer.get(layer) else [None]
        return [Choice(w, a, c) for w, a, c in itertools.product(o["weight"], acts, o["acc"])]

    def dims(self) -> list[tuple[str, str, int]]:
        """The integer decision variables (layer, dimension, number of options) of the evolutionary search."""
        out = []
        for name in self.layers:
            for d in DIMS:
                if d == "act" and not self.act_layer.get(name):
                    continue
                out.append((name, d, len(self.options[name][d])))
        return out

    def decode(self, genes) -> tuple[Choice, ...]:
        """Integer genes (one per ``dims()`` entry) -> one Choice per layer."""
        it = iter(int(g) for g in genes)
        out = []
        for name in self.layers:
            o = self.options[name]
            w = o["weight"][next(it)]
            a = o["act"][next(it)] if self.act_layer.get(name) else None
            c = o["acc"][next(it)]
            out.append(Choice(w, a, c))
        return tuple(out)

    def encode(self, config: tuple[Choice, ...]) -> list[int]:
        """Inverse of ``decode``."""
        out = []
        for name, ch in zip(self.layers, config):
            o = self.options[name]
            out.append(o["weight"].index(ch.weight))
            if self.act_layer.get(name):
                out.append(o["act"].index(ch.act))
            out.append(o["acc"].index(ch.acc))
        return out

    def size(self) -> int:
        """Number of configurations in the space."""
        n = 1
        for name in self.layers:
            n *= len(self.choices(name))
        return n

    def uniform(self, weight: str, act: int, acc: int) -> tuple[Choice, ...]:
        """The uniform configuration (same formats in every layer), whether or not the space holds it."""
        return tuple(Choice(weight, act if self.act_layer.get(n) else None, acc) for n in self.layers)

    def contains(self, config: tuple[Choice, ...]) -> bool:
        """True when every layer's choice is one of the space's options."""
        for name, ch in zip(self.layers, config):
            o = self.options[name]
            if ch.weight not in o["weight"] or ch.acc not in o["acc"]:
                return False
            if self.act_layer.get(name) and ch.act not in o["act"]:
                return False
        return True

    def as_dict(self) -> dict:
        """JSON form (layers in order)."""
        return {n: {d: list(self.options[n][d]) for d in DIMS} for n in self.layers}


#: default options per target kind
DEFAULT_SPACES = {
    "fpga": {
        "weight": ["fixed<2>", "fixed<3>", "fixed<4>", "fixed<5>", "fixed<6>", "fixed<8>", "csd<1>", "csd<2>", "csd<3>"]
        + ["e4m3", "e3m2", "e2m1"],
        "act": [3, 4, 6, 8],
        "acc": [8, 12],
    },
    "mcu": {"weight": ["int4", "int8"], "act": [8], "acc": [16]},
}


def _check_list(where: str, v, dim: str) -> list:
    if not isinstance(v, list) or not v:
        raise SpaceError(f"{where}: expected a non-empty list")
    out = []
    for i, x in enumerate(v):
        if dim == "weight":
            out.append(canonical_weight_at(x, f"{where}[{i}]"))
        else:
            if isinstance(x, bool) or not isinstance(x, int) or not 2 <= x <= 24:
                raise SpaceError(f"{where}[{i}]: expected a width in bits 2..24, got {x!r}")
            out.append(x)
    if len(set(out)) != len(out):
        raise SpaceError(f"{where}: repeated option")
    return out


def canonical_weight_at(x, where: str) -> str:
    """``canonical_weight`` with errors naming ``where``."""
    if not isinstance(x, str):
        raise SpaceError(f"{where}: expected a format name string, got {x!r}")
    weight_spec(x, where)
    return canonical_weight(x)


def build_space(layers: list[str], act_layer: dict[str, str | None], kind: str, user: dict | None = None) -> Space:
    """The space of a model (searchable ``layers`` in order) for a target ``kind`` ("fpga" or "mcu"),
    restricted by a user table (the ``[space]`` table of a space file). Raises SpaceError naming the key."""
    base = {d: list(DEFAULT_SPACES[kind][d]) for d in DIMS}
    user = dict(user or {})
    if "space" in user:
        extra = sorted(set(user) - {"space"})
        if extra:
            raise SpaceError(f"{extra[0]}: unknown key in the space file; expected a [space] table")
        user = user["space"]
        if not isinstance(user, dict):
            raise SpaceError("space: expected a table")
    allowed = set(DIMS) | {"layers"}
    for k in user:
        if k not in allowed:
            raise SpaceError(f"space.{k}: unknown key; allowed: {', '.join(sorted(allowed))}")
    for d in DIMS:
        if d in user:
            base[d] = _check_list(f"space.{d}", user[d], d)
    per = user.get("layers", {})
    if not isinstance(per, dict):
        raise SpaceError("space.layers: expected a table of layer names")
    options = {n: {d: list(base[d]) for d in DIMS} for n in layers}
    for lname, over in per.items():
        if lname not in options:
            raise SpaceError(f"space.layers.{lname}: unknown layer; the model's layers are {', '.join(layers)}")
        if not isinstance(over, dict):
            raise SpaceError(f"space.layers.{lname}: expected a table")
        for d, v in over.items():
            if d not in DIMS:
                raise SpaceError(f"space.layers.{lname}.{d}: unknown key; allowed: {', '.join(DIMS)}")
            options[lname][d] = _check_list(f"space.layers.{lname}.{d}", v, d)
    return Space(list(layers), options, dict(act_layer))
