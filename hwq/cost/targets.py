"""Cost-model targets as data: ``hwq/cost/targets/<name>.toml`` (read with tomllib, written by ``dumps``).

A target file holds ``[target]`` (name, kind ``fpga`` or ``mcu``, description), for FPGA targets
``[synth]`` (the yosys script and how cells are counted) and ``[coefficients]`` (LUTs per feature bit,
fitted by ``hwq cost calibrate``), for MCU targets ``[cycles]`` / ``[instructions]`` (per-kernel
formula coefficients) and ``[memory]``, and ``[calibration]`` (date, tool versions, number of designs
fitted and held out, the accuracy figures). Adding a target is adding a file plus a calibration run.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

from hwq.io import atomic_write

FPGA_TARGETS = ("xc7", "ice40")
MCU_TARGETS = ("cortex-m4", "cortex-m7", "cortex-m55")


def target_path(name: str) -> Path:
    """Path of the packaged target file ``targets/<name>.toml`` (it may not exist yet)."""
    return Path(str(resources.files("hwq.cost").joinpath("targets", f"{name}.toml")))


def available() -> list[str]:
    """Names of the packaged targets."""
    d = target_path("x").parent
    return sorted(p.stem for p in d.glob("*.toml"))


def load_target(target) -> dict:
    """A target as a dict: ``target`` is a packaged name (``xc7``, ``ice40``, ``cortex-m4``, ...), a path to
    a ``.toml`` file, or an already loaded dict (returned as is). Raises ValueError naming the target."""
    if isinstance(target, dict):
        return target
    p = Path(str(target))
    if p.suffix != ".toml":
        p = target_path(str(target))
        if not p.exists():
            raise ValueError(f"unknown cost target {target!r} (known: {', '.join(available())}; or a .toml file)")
    elif not p.exists():
        raise FileNotFoundError(f"{p}: cost target file not found")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{p}: not a valid TOML target file ({e})") from None
    data.setdefault("target", {}).setdefault("name", p.stem)
    return data


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to a target file")


def dumps(data: dict) -> str:
    """TOML text of a target dict: top-level tables of scalars/arrays, one level of sub-tables
    (deterministic: keys in insertion order)."""
    lines: list[str] = []

    def table(prefix: str, d: dict) -> None:
        scalars = [(k, v) for k, v in d.items() if not isinstance(v, dict)]
        subs = [(k, v) for k, v in d.items() if isinstance(v, dict)]
        if scalars or not subs:
            lines.append(f"[{prefix}]")
            for k, v in scalars:
                lines.append(f"{_key(k)} = {_value(v)}")
            lines.append("")
        for k, v in subs:
            table(f"{prefix}.{_key(k)}", v)

    for name, d in data.items():
        if not isinstance(d, dict):
            raise TypeError(f"target file: top-level key {name!r} must be a table")
        table(_key(name), d)
    return "\n".join(lines).rstrip() + "\n"


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _value(k)


def save_target(data: dict, path) -> Path:
    """Write a target dict to ``path`` atomically (TOML); returns the path."""
    return atomic_write(Path(path), dumps(data))


def replace_tables(text: str, name: str, block: str) -> str:
    """TOML ``text`` with its table ``[name]`` and every sub-table ``[name.*]`` replaced by ``block`` (at the
    place of the first one, or appended); other tables, their comments and their order are kept."""
    kept: list[str] = []
    at, dropping = None, False
    for line in text.splitlines():
        header = re.match(r"\[([^\[\]]+)\]\s*$", line.strip())
        if header:
            table = header.group(1).strip()
            dropping = table == name or table.startswith(name + ".")
            if dropping and at is None:
                at = len(kept)
        if not dropping:
            kept.append(line)
    new = block.rstrip("\n").splitlines()
    if at is None:
        while kept and not kept[-1].strip():
            kept.pop()
        kept += [""] + new
    else:
        while at > 0 and not kept[at - 1].strip():  # one blank line before the block
            kept.pop(at - 1)
            at -= 1
        kept[at:at] = ([""] if at else []) + new + ([""] if at < len(kept) else [])
    return "\n".join(kept).rstrip("\n") + "\n"
