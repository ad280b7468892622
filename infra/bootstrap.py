"""Bootstrap on a fresh machine with only Python 3.11+: a virtualenv, the project installed, then a command.

    python3 infra/bootstrap.py play        run the whole product on embedded defaults (= `diana play`)
    python3 infra/bootstrap.py test [ARGS] run the test suite (pytest ARGS)
    python3 infra/bootstrap.py install     only create/refresh .venv
    python3 infra/bootstrap.py diana ARGS  any `diana` sub-command

Standard library only: it runs before anything is installed. The virtualenv is refreshed
whenever pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".diana-installed"


def ensure_installed() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - runs under any python3 before the venv exists
        raise SystemExit(f"Diana needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"Creating the virtualenv in {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing Diana and its servers (Temporal, Postgres, Redis come as pip packages) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("play", [])
    if command not in {"play", "test", "install", "diana"}:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_installed()
    os.chdir(ROOT)
    if command == "install":
        return 0
    if command == "test":
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *args])
    if command == "play":
        args = ["play", *args]
    os.execv(str(BIN / "diana"), [str(BIN / "diana"), *args])
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
