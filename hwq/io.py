"""File output helpers shared by every command and emitter: safe output folders, atomic writes,
identifier sanitising, and the provenance header of generated files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import hwq

_C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if inline int long
    register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
    bool true false class namespace template typename this new delete public private protected virtual operator
    friend using module endmodule input output inout wire reg logic assign always begin end initial parameter
    localparam integer genvar generate endgenerate function endfunction task endtask posedge negedge or and not
    xor nand nor buf casez casex endcase default signed unsigned real time event supply0 supply1 tri""".split()
)


class OutputExistsError(FileExistsError):
    """The output folder exists and is not empty, and --force was not given."""


def prepare_out_dir(path, force: bool = False) -> Path:
    """Create ``path`` (a folder). Refuse an existing non-empty folder unless ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path}: exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not force:
        raise OutputExistsError(f"{path}: folder exists and is not empty; pass --force to overwrite its files")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged_out_dir(path, force: bool = False) -> Iterator[Path]:
    """Write a whole output folder all-or-nothing: yields an empty hidden temp folder next to ``path``.

    When the block succeeds its files are moved into ``path`` (renamed into place when ``path`` does not
    exist or is empty; otherwise, with ``force``, file by file, replacing same-named files and keeping
    the others). When the block raises, the temp folder is removed and ``path`` is left as it was: no
    half-written or empty folder. Refuses a non-empty ``path`` without ``force`` before anything is written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path}: exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not force:
        raise OutputExistsError(f"{path}: folder exists and is not empty; pass --force to overwrite its files")
    parent = path.absolute().parent
    made = [p for p in (parent, *parent.parents) if not p.exists()]  # folders this call creates
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".partial"))
    ok = False
    try:
        yield tmp
        if path.exists() and not any(path.iterdir()):
            path.rmdir()
        if not path.exists():
            os.replace(tmp, path)
            return
        for src in sorted(tmp.rglob("*")):
            dst = path / src.relative_to(tmp)
            if src.is_dir():
                if dst.exists() and not dst.is_dir():
                    dst.unlink()
                dst.mkdir(exist_ok=True)
            else:
                if dst.is_dir():
                    shutil.rmtree(dst)
                os.replace(src, dst)
        ok = True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            for p in made:  # innermost first: parent folders created for nothing
                with contextlib.suppress(OSError):
                    p.rmdir()


def atomic_write(path, data: str | bytes) -> Path:
    """Write text or bytes to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a generated file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def sanitize_identifier(name: str, prefix: str = "t") -> str:
    """A C/C++/Verilog-safe identifier from a user-supplied name (stable: same name, same result).

    Non-alphanumerics become ``_``, a leading digit or a reserved word gets ``prefix_`` in front.
    """
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    s = re.sub(r"_+", "_", s).strip("_") or prefix
    if s[0].isdigit() or s.lower() in _C_KEYWORDS or s.startswith("__"):
        s = f"{prefix}_{s}"
    return s


def unique_identifiers(names: list[str], prefix: str = "t") -> dict[str, str]:
    """Sanitise a list of names so that distinct names stay distinct (suffix ``_2``, ``_3`` on clashes)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for n in names:
        base = sanitize_identifier(n, prefix)
        s, k = base, 2
        while s in used:
            s, k = f"{base}_{k}", k + 1
        used.add(s)
        out[n] = s
    return out


def graph_hash(graph_json_text: str) -> str:
    """Short SHA-256 of a graph's JSON text (the 'source model hash' in generated headers)."""
    return hashlib.sha256(graph_json_text.encode()).hexdigest()[:16]


def provenance_lines(command: str, model_hash: str) -> list[str]:
    """The lines of a generated file's header (without comment markers): the hwq version, ``model_hash``
    (``graph_hash`` of the graph's JSON text, i.e. the first 16 hex digits of the SHA-256 of the
    ``graph.json`` written beside the files) and the command (paths relative to the output folder:
    ``relative_command``)."""
    return [
        f"Generated by hwq {hwq.__version__}. Do not edit: regenerate instead.",
        f"Source graph sha256: {model_hash} (first 16 hex digits of sha256(graph.json))",
        f"Command: {command or '(python API)'}",
    ]


def relative_command(argv: list[str], out_dir=None, cwd=None, prog: str = "hwq") -> str:
    """``prog`` and ``argv`` as one shell-quoted line for headers of generated files, reproducible across
    machines and folders. With ``out_dir`` (the output folder): the value of ``--out``/``-o`` becomes
    ``.``; an absolute path, or a relative one that names an existing file or folder and looks like a path
    (contains ``/`` or ``.``), becomes a path relative to ``out_dir`` (``--opt=value`` values too;
    ``cwd``, default the current folder, resolves relative arguments). Other arguments (sub-commands,
    options, numbers) are kept as typed."""
    import shlex

    base = Path(cwd) if cwd is not None else Path.cwd()
    out = None if out_dir is None else os.path.abspath(base / out_dir)

    def rel(a: str) -> str:
        if a.startswith("-"):
            opt, eq, val = a.partition("=")
            return f"{opt}={'.' if opt in ('--out', '-o') else rel(val)}" if eq and val else a
        p = os.path.abspath(base / a)
        if os.path.isabs(a) or (("/" in a or "." in a) and os.path.exists(p)):
            return os.path.relpath(p, out)
        return a

    words = []
    for k, a in enumerate(argv):
        if out is None:
            words.append(a)
        elif k > 0 and argv[k - 1] in ("--out", "-o"):
            words.append(".")
        else:
            words.append(rel(a))
    return " ".join(shlex.quote(x) for x in [prog, *words])
