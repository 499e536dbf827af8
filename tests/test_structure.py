"""The shape the architecture promises (docs/DESIGN.md): small modules and functions, imports in one direction."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "organizer"
MODULES = sorted(PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, absolute, at any depth (lazy imports inside functions included)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.add(name)
            found |= {f"{name}.{a.name}" for a in node.names}
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the organizer modules it imports (a name imported from a package that is a submodule counts as that
    submodule; imports inside functions count too)."""
    known = {module_name(p) for p in MODULES}
    graph = {}
    for path in MODULES:
        edges = set()
        for name in imports_of(path):
            # the longest known module that the name is, or lies in
            parts = name.split(".")
            for k in range(len(parts), 0, -1):
                if ".".join(parts[:k]) in known:
                    edges.add(".".join(parts[:k]))
                    break
        graph[module_name(path)] = edges - {module_name(path)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_counting_imports_inside_functions():
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_at_most_14_modules_at_the_top_and_every_subpackage_says_what_it_holds():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 14, f"{len(top)} modules at the top of organizer/: {top}"
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init.parent.name}/ has no docstring saying what it holds and may import"


LEAVES = {"types", "errors", "clock", "digest", "inputs", "layout", "vectors", "config", "summary", "data"}
MAY_IMPORT = {      # what each subpackage may import besides itself (docs/DESIGN.md's package map; each __init__ says so)
    "features": LEAVES,
    "analysis": LEAVES | {"features"},
    "engine": LEAVES | {"features", "analysis"},
    "grouping": LEAVES,
    "store": LEAVES,
    "moves": LEAVES,
    "outputs": LEAVES | {"features", "analysis", "engine", "pipeline", "scan"},
    "review": LEAVES | {"library", "moves", "pipeline"},
    "cli": LEAVES | {"library", "moves", "outputs", "review", ""},
}


def test_imports_between_packages_run_one_way():
    wrong = []
    for module, edges in import_graph().items():
        parts = module.split(".")
        if len(parts) < 3 or parts[1] not in MAY_IMPORT:
            continue
        for target in edges:
            top = target.split(".")[1] if "." in target else ""
            if top != parts[1] and top not in MAY_IMPORT[parts[1]]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_module_over_400_lines_and_no_function_over_60():
    too_long = []
    for path in MODULES:
        text = path.read_text()
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.name}:{node.name}: {length} lines")
    assert too_long == []


def test_the_cli_only_parses_and_renders():
    for path in (PACKAGE / "cli").glob("*.py"):
        bad = {m for m in imports_of(path) if m.split(".")[:2] in (["organizer", "state"], ["organizer", "mover"],
                                                                  ["organizer", "pipeline"])}
        assert bad == set(), f"{path.name} imports {bad}"


def test_the_core_never_imports_click_or_rich():
    for path in MODULES:
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        bad = {m for m in imports_of(path) if m.split(".")[0] in ("click", "rich")}
        assert bad == set(), f"{path.name} imports {bad}"


def test_one_model_identity_decides_the_feature_space(tmp_path):
    """The space (and the analysis key) follows the model's content, not its path, labels, runtime or threads."""
    from organizer.analysis.video import AnalysisParams
    from organizer.config import Settings
    from organizer.features import FeatureSpec

    a, b, c = tmp_path / "a.tflite", tmp_path / "copy-of-a.tflite", tmp_path / "c.tflite"
    a.write_bytes(b"model A")
    b.write_bytes(b"model A")
    c.write_bytes(b"model C")
    labels = tmp_path / "labels.txt"
    labels.write_text("x\n")
    params = AnalysisParams()

    def spec(**kw):
        return FeatureSpec.from_settings(Settings(**kw))
    base = spec(features_model=str(a))
    assert spec(features_model=str(b)).space == base.space
    assert spec(features_model=str(a), features_labels=str(labels), features_threads=3).space == base.space
    assert spec(features_model=str(c)).space != base.space
    assert params.key(spec(features_model=str(c))) != params.key(base)
    assert spec(features_weights="random").space != spec(features_weights="random", seed=1).space
    assert spec(features_weights="random", features_backend="keras").space == spec(features_weights="random").space
    assert not hasattr(Settings, "feature_identity")


def test_every_mutant_still_names_code_that_exists():
    """scripts/mutants.py replaces exact text; a refactor that changes it must update the mutant, or the mutation
    check silently stops checking that guarantee (one did: the settle-time mutant, after issue 15)."""
    import importlib.util
    import sys

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("organizer_mutants", root / "scripts" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    stale = [m.name for m in module.MUTANTS if (root / m.file).read_text().count(m.old) != 1]
    assert not stale, f"update these mutants in scripts/mutants.py: {stale}"
    missing = [t for m in module.MUTANTS for t in m.tests if not (root / t.split("::")[0]).exists()
               or "::" in t and f"def {t.split('::')[1]}(" not in (root / t.split("::")[0]).read_text()]
    assert not missing, f"these mutants name tests that do not exist: {missing}"


def test_the_public_names_say_what_they_take_return_and_raise():
    """organizer/__init__.py is the face for Python users: each name documented, each entry point naming every
    parameter, what it returns and what it raises (as PySceneDetect's detect() does)."""
    import inspect

    import organizer

    undocumented = [n for n in organizer.__all__ if n != "__version__" and not getattr(organizer, n).__doc__]
    assert undocumented == []
    for fn in (organizer.Library.open, organizer.Library.run, organizer.Library.apply, organizer.Library.undo,
               organizer.resolve):
        doc = inspect.getdoc(fn) or ""
        params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
        missing = [p for p in params if f"{p}:" not in doc]
        assert not missing and "Returns" in doc and "Raises" in doc, f"{fn.__qualname__}: document {missing}"
