"""Each process's entry module imports on its own, in a fresh interpreter (no import cycles between layers)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT


@pytest.mark.parametrize("module", ["worker.main", "bot.main", "activities.payments", "activities.telegram",
                                    "tools.cli", "workflows.journey"])  # fmt: skip
def test_entry_module_imports_alone(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
