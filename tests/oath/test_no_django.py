"""accounts.oath stays pure Python: no module of it imports Django, and importing it loads none."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "accounts" / "oath"


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_module_of_the_package_imports_django() -> None:
    sources = sorted(PACKAGE.glob("*.py"))
    assert sources
    for source in sources:
        offenders = {m for m in _imported_modules(source) if m == "django" or m.startswith("django.")}
        assert not offenders, f"{source.name} imports {offenders}"


def test_importing_the_package_and_parsing_loads_no_django() -> None:
    script = (
        "import sys\n"
        "from accounts.oath import parse_oath_csv, parse_pskc, verify_totp\n"
        "parse_oath_csv('A,3132333435363738393031323334353637383930,hotp,6,0')\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not loaded, loaded\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PACKAGE.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 0, completed.stderr
