"""The package's shape, as docs/development.md draws it: concerns in subpackages, small modules and
functions, imports that flow one way (app -> svhn_xai, and no circle inside the library)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "svhn_xai"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
MAX_TOP_LEVEL_MODULES = 8  # besides __init__.py and __main__.py


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The svhn_xai modules ``path`` imports at run time, at any depth (functions included);
    imports under ``if TYPE_CHECKING:`` only serve annotations and are left out."""
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("svhn_xai"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("svhn_xai")}
    return found


def _graph() -> dict[str, set[str]]:
    names = {_name(p): p for p in _modules(LIBRARY)}
    graph = {}
    for name, path in names.items():
        # "from svhn_xai.x import y" names module y when there is one, else x
        targets = {t for t in _imports(path) if t in names}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        # a package's __init__ imports its own modules: that is how a package is assembled
        graph[name] = {
            t for t in targets if t != name and not (name == package and t.startswith(name + "."))
        }
    return graph


def test_no_module_is_too_long_and_no_function_either():
    long = []
    for path in _modules(LIBRARY) + _modules(ROOT / "app"):
        source = path.read_text()
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {size}")
    assert not long, long


def test_the_package_is_subpackages_by_concern_each_saying_what_it_holds():
    top = [p.name for p in LIBRARY.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)
    for package in [p.parent for p in LIBRARY.rglob("__init__.py")]:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc and len(doc) > 40, f"{package.relative_to(ROOT)} says nothing of what it holds"


def test_no_import_circle():
    graph = _graph()
    circles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, ()):
            if nxt in path:
                circles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif len(path) < 40:
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    assert not circles, sorted(set(circles))[:5]


def test_the_library_never_imports_the_app_or_streamlit():
    for path in _modules(LIBRARY):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            for name in names:
                assert not name.startswith(("streamlit", "app")), (path, name)


def test_the_circle_finder_finds_a_circle(tmp_path, monkeypatch):
    """The guard above, on a made-up package where a imports b and b, inside a function, a."""
    package = tmp_path / "svhn_xai"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package made up by a test, to hold a circle."""\n')
    (package / "a.py").write_text("from svhn_xai.b import f\n")
    (package / "b.py").write_text("def f():\n    from svhn_xai.a import g\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "LIBRARY", package)
    graph = _graph()
    assert graph["svhn_xai.a"] == {"svhn_xai.b"} and graph["svhn_xai.b"] == {"svhn_xai.a"}
    with pytest.raises(AssertionError, match="svhn_xai.a -> svhn_xai.b -> svhn_xai.a"):
        test_no_import_circle()
