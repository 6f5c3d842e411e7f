"""No import cycle among the modules of hwq (``hwq/``, ``hls/``, ``rtl/``, ``sim/``, ``mcu/``).

The test parses every module's source (no import is executed) and collects every import statement,
including the ones inside functions (a lazy import only hides a cycle), resolved to the hwq module it
names: ``from .a import b`` names ``pkg.a.b`` when that is a module, else ``pkg.a``. The implicit import
of parent packages is not an edge. A strongly connected component of more than one module is a cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: top-level folder -> import name (pyproject.toml package-dir)
FOLDERS = {"hwq": "hwq", "hls": "hwq.hls", "rtl": "hwq.rtl", "sim": "hwq.sim", "mcu": "hwq.mcu"}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Import name -> source file of every hwq module (packages as ``pkg`` -> ``pkg/__init__.py``)."""
    out = {}
    for folder, name in FOLDERS.items():
        base = root / folder
        if not base.is_dir():
            continue
        for f in sorted(base.rglob("*.py")):
            rel = f.relative_to(base).with_suffix("").parts
            if "__pycache__" in rel or any(p.startswith(".") for p in rel):
                continue
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join((name, *rel))] = f
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """hwq modules that module ``name`` (file ``path``) imports anywhere in its source."""
    is_pkg = path.name == "__init__.py"
    pkg = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            targets = [(mod, [a.name for a in node.names])]
        for mod, names in targets:
            if mod not in known:
                continue
            subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known]
            found.update(subs)
            if len(subs) < len(names) or not names:
                found.add(mod)
    found.discard(name)
    return found


def cycles(root: Path = ROOT) -> list[list[str]]:
    """Strongly connected components (Tarjan) of more than one module, each sorted; sorted list."""
    mods = modules(root)
    known = set(mods)
    graph = {m: sorted(imports_of(m, p, known)) for m, p in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_walker_sees_a_cycle(tmp_path):
    """The walker itself can fail: two modules importing each other (one lazily) are a cycle."""
    pkg = tmp_path / "rtl"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\n")
    (pkg / "b.py").write_text("def f():\n    from hwq.rtl.a import g\n")
    (pkg / "c.py").write_text("from . import a\n")
    assert cycles(tmp_path) == [["hwq.rtl.a", "hwq.rtl.b"]]


def test_no_import_cycles():
    found = cycles()
    assert not found, "import cycles (each line: modules that import each other):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


#: (importer prefix, imported prefix) pairs that must not occur: the IR and formats are the spine and import
#: no backend; emitters do not import the simulators that check them
FORBIDDEN = [
    ("hwq.ir", "hwq.hls"),
    ("hwq.ir", "hwq.rtl"),
    ("hwq.ir", "hwq.mcu"),
    ("hwq.ir", "hwq.sim"),
    ("hwq.formats", "hwq.hls"),
    ("hwq.formats", "hwq.rtl"),
    ("hwq.formats", "hwq.mcu"),
    ("hwq.formats", "hwq.sim"),
    ("hwq.hls", "hwq.sim"),
    ("hwq.rtl", "hwq.sim"),
    ("hwq.mcu", "hwq.sim"),
]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def back_edges(root: Path = ROOT) -> list[str]:
    """``importer -> imported`` lines for every FORBIDDEN edge."""
    mods = modules(root)
    known = set(mods)
    out = []
    for m, p in sorted(mods.items()):
        for t in sorted(imports_of(m, p, known)):
            if any(_under(m, a) and _under(t, b) for a, b in FORBIDDEN):
                out.append(f"{m} -> {t}")
    return out


def test_no_back_edges():
    found = back_edges()
    assert not found, "imports against the layering (IR <- emitters <- simulators):\n" + "\n".join(found)


if __name__ == "__main__":  # list the cycles of a source tree: python tests/core/test_imports.py [ROOT]
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    for c in cycles(root):
        print("cycle:", " <-> ".join(c))
    for e in back_edges(root):
        print("back edge:", e)
