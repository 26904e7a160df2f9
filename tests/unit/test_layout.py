"""How the package is put together, written as rules: a small core, three wings that use it and never reach
into each other's internals, an emulator apart, and nothing that imports its own package's __init__."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "acrlib"
CORE = {"errors", "schema", "media_types", "images", "skus", "clouds", "inventory", "snapshots", "locations", "history",
        "credentials", "_version"}
STORAGE = {"snapshots", "locations", "history"}  # the storage layer: where snapshots live, and reading them
GLUE = {"sources", "cli", "__init__"}  # the face and the glue between core and wings
WINGS = {"collection", "analysis", "report", "cleanup"}


@functools.cache
def modules() -> dict[str, ast.Module]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts): ast.parse(p.read_text())
            for p in PACKAGE.rglob("*.py")}


def imports(name: str, tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """Absolute names of the acrlib modules (and names in them) that ``name`` imports, with the node."""
    package = name.split(".") if name.endswith("__init__") else name.split(".")[:-1]
    package = [p for p in package if p != "__init__"]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node) for a in node.names if a.name.startswith("acrlib")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("acrlib"):
                found += [(f"{module}.{a.name}", node) for a in node.names]
    return found


def part(module: str) -> str:
    """core, glue, a wing's name, or emulator."""
    parts = module.split(".")
    if len(parts) < 2:
        return "glue"
    second = parts[1]
    if second in WINGS or second == "emulator":
        return second
    return "core" if second in CORE else "glue"


def test_the_core_imports_no_wing_and_no_glue():
    for name, tree in modules().items():
        if part(name) != "core":
            continue
        for target, _ in imports(name, tree):
            assert part(target) == "core", f"{name} (core) imports {target}"


def test_every_top_level_module_is_core_storage_or_the_glue():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top - CORE - GLUE == set(), "a new top-level module: name its layer here"
    assert STORAGE <= CORE, "the storage layer is below the wings, like the core"


def test_the_report_uses_only_what_the_analysis_wing_exports():
    import acrlib.analysis

    public = set(acrlib.analysis.__all__)
    for name, tree in modules().items():
        if part(name) != "report":
            continue
        for target, _ in imports(name, tree):
            if part(target) == "analysis":
                assert target.rsplit(".", 1)[0] == "acrlib.analysis" and target.rsplit(".", 1)[1] in public, (
                    f"{name} imports {target}: the report uses only names acrlib.analysis exports")


def test_analysis_and_report_never_reach_into_the_collection_wing():
    for name, tree in modules().items():
        if part(name) not in ("analysis", "report"):
            continue
        for target, _ in imports(name, tree):
            assert part(target) != "collection", f"{name} imports {target}"
            if part(name) == "analysis":
                assert part(target) != "report", f"{name} imports {target}: analysis is below report"


def test_the_collection_wing_knows_nothing_of_analysis_report_or_cleanup():
    for name, tree in modules().items():
        if part(name) == "collection":
            for target, _ in imports(name, tree):
                assert part(target) not in ("analysis", "report", "cleanup"), f"{name} imports {target}"


def test_the_cleanup_wing_uses_collection_access_and_analysis_exports_only():
    import acrlib.analysis

    for name, tree in modules().items():
        if part(name) != "cleanup":
            continue
        for target, _ in imports(name, tree):
            module, _, what = target.rpartition(".")
            if part(target) == "collection":
                assert module in ("acrlib.collection.access", "acrlib.collection.options"), (
                    f"{name} imports {target}: the cleanup wing uses the collection through access and options")
            elif part(target) == "analysis":
                assert module == "acrlib.analysis" and what in acrlib.analysis.__all__, f"{name} imports {target}"
            else:
                assert part(target) in ("core", "cleanup"), f"{name} imports {target}"


def test_only_the_glue_reaches_the_emulator_and_only_lazily():
    for name, tree in modules().items():
        if part(name) == "emulator":
            continue
        for target, node in imports(name, tree):
            if part(target) == "emulator":
                assert name.split(".")[-1] in ("sources", "cli"), f"{name} imports the emulator"
                assert node.col_offset > 0, f"{name} imports the emulator at module level"


def test_the_emulator_uses_only_the_core_of_acrlib():
    for name, tree in modules().items():
        if part(name) == "emulator":
            for target, node in imports(name, tree):
                if target == "acrlib.collection.options.DEFAULTS":  # its truth reads collect's defaults, lazily
                    assert node.col_offset > 0, f"{name} imports the collection at module level"
                    continue
                assert part(target) in ("core", "emulator"), f"{name} imports {target}"


def test_no_module_imports_its_own_package_init_for_a_value():
    for name, tree in modules().items():
        if name.endswith("__init__"):
            continue
        package = ".".join(name.split(".")[:-1])
        for node in ast.walk(tree):
            own = isinstance(node, ast.ImportFrom) and (
                (node.level == 1 and node.module is None) or (node.level == 0 and node.module == package))
            if own:  # `from . import x` must name a module of the package, not a value of its __init__
                for alias in node.names:
                    sibling = PACKAGE.parent / Path(*package.split("."), alias.name)
                    assert sibling.with_suffix(".py").exists() or sibling.is_dir(), (
                        f"{name} imports {alias.name} from its package's __init__")


def test_every_package_is_shipped_in_the_wheel():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found <= declared, f"add {sorted(found - declared)} to [tool.setuptools] packages"


def test_importing_and_collecting_does_not_load_the_emulator():
    code = ("import sys, acrlib, acrlib.sources, acrlib.cli, acrlib.report\n"
            "print(any(m.startswith('acrlib.emulator') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
