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
