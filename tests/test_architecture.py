"""The package layout is a contract: layers checked by import-linter, small modules, one type each.

`make lint` runs ``lint-imports`` over the real tree; these tests show that the contract bites (an
upward import in a copy of the package fails it) and pin what the architecture issue promised.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "gridledger"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(src_root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("src")
    shutil.copytree(SRC, root / "gridledger", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_layers_hold_on_the_real_tree() -> None:
    result = _lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "imported"),
    [
        ("market/_upward.py", "gridledger.store"),  # a lower layer importing a higher one
        ("ledger/_upward.py", "gridledger.sim"),  # the ledger depending on the simulator
        ("store/_upward.py", "gridledger.operator"),
        ("chain/_upward.py", "gridledger.market"),  # the engines know no market
        ("monitor/_sideways.py", "gridledger.control"),  # independent siblings
    ],
)
def test_an_upward_import_breaks_the_contract(
    package_copy: Path, module: str, imported: str
) -> None:
    bad = package_copy / "gridledger" / module
    bad.write_text(f"import {imported}  # deliberately against the layers\n")
    try:
        result = _lint_imports(package_copy)
    finally:
        bad.unlink()
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout


def _python_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _python_files()
        if (n := len(p.read_text().splitlines())) > 600
    }
    assert long == {}, f"split these by concept: {long}"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_top_layers_import_the_simulator() -> None:
    allowed = {"sim", "service", "api", "web", "cli"}
    offenders = [
        str(p.relative_to(SRC))
        for p in _python_files()
        if p.relative_to(SRC).parts[0] not in allowed
        and any(n == "gridledger.sim" or n.startswith("gridledger.sim.") for n in _imports(p))
    ]
    assert offenders == []


def test_one_class_per_concept() -> None:
    """Orders and trades have one type (the market's); the ledger only encodes them."""
    classes: dict[str, list[str]] = {}
    for p in _python_files():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).append(str(p.relative_to(SRC)))
    assert "SignedOrder" not in classes and "SettlementTrade" not in classes
    assert "ExpectedTrade" not in classes
    for concept in ("Order", "Trade", "Region", "Reading", "DeviceKind"):
        assert len(classes.get(concept, [])) == 1, f"{concept}: {classes.get(concept)}"


def test_no_import_cycle_between_modules() -> None:
    """No module imports, directly or through others, a module that imports it back.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    import grimp

    graph = grimp.build_graph("gridledger", exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append((module, imported))
    assert cycles == [], f"import cycles: {cycles[:5]}"
