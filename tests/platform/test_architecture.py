"""The shape of the code, checked like behaviour: the feature layers and their import direction (import-linter
contract in pyproject.toml), no unused code (vulture), no module borrowing another's private names.

docs/architecture.md explains the layers; a failure here names the import or the function to fix.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_layer_contract_is_kept():
    run = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_no_unused_code():
    # 80%: vulture's certain findings (unused imports, functions never named anywhere, unreachable code). Below
    # that it reports Flask routes, signal handlers and WTForms validators, which the frameworks call by name.
    run = subprocess.run([sys.executable, "-m", "vulture", "instrument_share", "--min-confidence", "80"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_module_imports_itself_back():
    """No import cycle between any two modules, counting imports inside functions too (the layer contract only
    sees packages)."""
    import grimp

    graph = grimp.build_graph("instrument_share")
    cycles = [(a, b) for a in sorted(graph.modules) for b in graph.find_modules_directly_imported_by(a)
              if a < b and graph.chain_exists(importer=b, imported=a)]
    assert cycles == []
