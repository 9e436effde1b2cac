"""The layout's rules, checked on the source: dependencies point one way (down the layers), no
import cycles, no library module over 600 lines. See docs/architecture.md for the map."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "movinet_crossfit"
# Lower number = lower layer. A module may import its own package and any lower layer, never a
# higher one and never another package of its own layer.
LAYERS = {
    "_env": 0,
    "core": 1,
    "synthetic": 2,
    "data": 3, "pose": 3,
    "movinet": 4, "repnet": 4, "keypoints": 4, "posecount": 4, "judging": 4,
    "analysis": 5,
    "app": 6, "serverless": 6,
    "demo": 7,
    "cli": 8,
    "__main__": 9,
}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every movinet_crossfit module imported anywhere in the file (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("movinet_crossfit"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("movinet_crossfit"):
            found.add(node.module)
            # `from movinet_crossfit.core import video` imports the module core.video.
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).is_file():
                    found.add(candidate)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _unit(module: str) -> str:
    """The layer unit of a module: its first part below the package (``movinet_crossfit.core.video`` -> ``core``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in _graph()} - {""}
    assert units <= set(LAYERS), f"add these to LAYERS (and docs/architecture.md): {sorted(units - set(LAYERS))}"


def test_dependencies_point_down_the_layers():
    wrong = []
    for module, imported in _graph().items():
        unit = _unit(module)
        if not unit:
            continue
        for target in imported:
            other = _unit(target)
            if not other or other == unit:
                continue
            if LAYERS[other] >= LAYERS[unit]:
                wrong.append(f"{module} imports {target} (layer {LAYERS[other]} >= {LAYERS[unit]})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    # Package __init__ files that only describe their package import nothing; edges to a package
    # are edges to its __init__.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    # A package __init__ that re-exports its own modules forms a harmless loop with them.
    cycles = [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert not cycles, f"import cycles: {cycles}"


def test_no_library_module_over_the_limit():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_checks_can_fail(tmp_path, monkeypatch):
    """The rules above catch a higher-layer import and a cycle (so a passing run means something)."""
    import pytest

    pkg = tmp_path / "movinet_crossfit"
    (pkg / "core").mkdir(parents=True)
    (pkg / "app").mkdir()
    (pkg / "core" / "a.py").write_text("from movinet_crossfit.app import b\n")
    (pkg / "app" / "b.py").write_text("from movinet_crossfit.core import a\n")
    monkeypatch.setitem(globals(), "PACKAGE", pkg)
    assert _graph()["movinet_crossfit.core.a"] == {"movinet_crossfit.app", "movinet_crossfit.app.b"}
    with pytest.raises(AssertionError, match="core.a imports movinet_crossfit.app"):
        test_dependencies_point_down_the_layers()
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()


def _process_groups() -> dict[str, tuple[str, list[str]]]:
    """tests/process_groups.txt: ``{name: (lane, files)}``; the files of the group ``*`` are ``["*"]``."""
    groups = {}
    for line in (PACKAGE.parent / "tests" / "process_groups.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lane, name, *files = line.split()
            assert name not in groups, f"two groups named {name}"
            groups[name] = (lane, files)
    return groups


def test_each_shared_model_fixture_is_built_in_one_test_process():
    """scripts/test.sh runs tests/process_groups.txt's groups as separate pytest processes (memory),
    in two lanes: every file a group names exists and is named once, one group takes the rest (`*`),
    and the files using one of the session fixtures that build models all sit in one named group,
    which builds it once. (``tiny_records`` is not one: a few seconds of records, written again by
    each group that uses it.)"""
    root = PACKAGE.parent
    groups = _process_groups()
    assert {lane for lane, _ in groups.values()} == {"1", "2"}, groups
    assert [name for name, (_, files) in groups.items() if files == ["*"]] == ["other"], groups
    named = [f for _, files in groups.values() if files != ["*"] for f in files]
    assert len(named) == len(set(named)), "a test file is in two groups"
    assert all((root / f).is_file() and f.startswith("tests/test_") for f in named), named
    group_of = {f: name for name, (_, files) in groups.items() for f in files if files != ["*"]}
    for fixture in ("tiny_run", "tiny_export", "generated_pipeline"):
        users = sorted(f"tests/{p.name}" for p in (root / "tests").glob("test_*.py")
                       if fixture in {n.arg for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                                      if isinstance(n, ast.arg)})
        assert users, fixture
        homes = {group_of.get(f, "other") for f in users}
        assert len(homes) == 1 and "other" not in homes, (fixture, {f: group_of.get(f, "other") for f in users})
