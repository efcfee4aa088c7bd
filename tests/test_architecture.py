"""The package's shape is checked, not only described: import-linter's contracts
(pyproject.toml, ``[tool.importlinter]``) hold on every run of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def test_layers_follow_the_pipeline_and_no_package_has_an_import_cycle():
    proc = subprocess.run([str(LINT), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bundler's layers follow the pipeline KEPT" in proc.stdout
    assert "no import cycles inside bundler's packages KEPT" in proc.stdout
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The contract is live: a copy of the package in which a low layer imports the
    pipeline fails it."""
    import shutil

    shutil.copytree(REPO / "bundler", tmp_path / "bundler", ignore=shutil.ignore_patterns("_stubs", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    errors = tmp_path / "bundler" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _upward():\n    from bundler import pipeline  # noqa: F401\n")
    proc = subprocess.run([str(LINT), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bundler.errors is not allowed to import bundler.pipeline" in proc.stdout
