"""dvc.yaml's deps name exactly the library code each stage runs, and the library's default
paths are dvc.yaml's paths: a changed file that a stage imports re-runs that stage, and
nothing else does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from imgclf.stages.default_paths import DEFAULT_PATHS

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
LIBRARY = SRC / "imgclf"
DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
STAGES = list(DVC_YAML["stages"])


def module_file(name: str) -> Path | None:
    """The file of the imgclf module ``name`` (``imgclf.data.images``), if it is one."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Every ``imgclf`` module ``path`` imports, at the top or inside a function, with the
    packages an import runs on the way (``imgclf``, ``imgclf.data``) and the submodules
    named by ``from package import submodule``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "imgclf":
                found |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return found


def import_closure(entry: Path) -> set[Path]:
    """The files inside src/imgclf that running ``entry`` imports, directly or not."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        for name in imported_modules(todo.pop()):
            file = module_file(name)
            if file is not None and file not in seen:
                seen.add(file)
                todo.append(file)
    return seen


def declared_library_files(stage: str) -> set[Path]:
    """The Python files under src/imgclf that the stage's deps name (a folder: every file
    below it)."""
    files: set[Path] = set()
    for dep in DVC_YAML["stages"][stage]["deps"]:
        path = REPO / dep
        if not dep.startswith("src/imgclf"):
            continue
        assert path.exists(), f"{stage}: dep {dep} does not exist"
        files |= set(path.rglob("*.py")) if path.is_dir() else {path}
    return {file for file in files if file.suffix == ".py"}


def shown(files: set[Path]) -> list[str]:
    return sorted(file.relative_to(REPO).as_posix() for file in files)


@pytest.mark.parametrize("stage", STAGES)
def test_stage_deps_list_exactly_the_library_files_the_stage_imports(stage: str) -> None:
    entry = f"pipelines/{stage}.py"
    assert entry in DVC_YAML["stages"][stage]["deps"], f"{stage}: {entry} is not a dep"
    assert f"python -m pipelines.{stage} " in DVC_YAML["stages"][stage]["cmd"]
    imported = import_closure(REPO / entry)
    declared = declared_library_files(stage)

    assert not shown(imported - declared), f"{stage}: imported but missing from its deps"
    assert not shown(declared - imported), f"{stage}: in its deps but never imported"


def test_the_stage_list_of_the_cli_is_dvc_yamls_in_order() -> None:
    from imgclf.stages import STAGES as LISTED

    assert list(LISTED) == STAGES


def test_the_library_default_paths_are_the_paths_dvc_yaml_declares() -> None:
    (declared,) = (entry["paths"] for entry in DVC_YAML["vars"] if "paths" in entry)
    assert declared == DEFAULT_PATHS


def test_the_library_never_imports_the_command_shims() -> None:
    for file in LIBRARY.rglob("*.py"):
        assert not any(name.split(".")[0] == "pipelines" for name in _all_imports(file)), (
            f"{file.relative_to(REPO)} imports pipelines"
        )


def _all_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names
