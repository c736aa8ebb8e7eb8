"""The apps stand on one another in one direction (docs/architecture.md, "Layers"); the imports must show it.

An AST walk over every module of the console, including imports inside functions (the lazy imports that
used to hide the cycles), relative imports and migrations. A module may import its own layer or a lower
one, never a higher one. Every module must belong to a layer, so a new file has to be placed on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "ztconsole",  # the package itself (it imports nothing; auditverify needs no Django)
            "ztconsole.core",
            "ztconsole.env",
            "ztconsole.logging",
            "ztconsole.settings",
            "ztconsole.settings_test",
            "ztconsole.celery",
            "ztconsole.testing",
        ),
    ),
    ("accounts", ("accounts",)),
    ("certificates", ("certificates",)),
    ("policies", ("policies",)),
    ("sessions", ("sessions",)),
    (
        "composition",
        (
            "console",
            "reports",
            "alerts",
            "retention",
            "ztconsole.urls",
            "ztconsole.api_urls",
            "ztconsole.routing",
            "ztconsole.asgi",
            "ztconsole.wsgi",
            "ztconsole.middleware",
            "ztconsole.ws_auth",
        ),
    ),
]
PACKAGES = (
    "ztconsole",
    "accounts",
    "certificates",
    "policies",
    "sessions",
    "console",
    "reports",
    "alerts",
    "retention",
)
_RANK = {prefix: rank for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}


def layer_of(module: str) -> int | None:
    """Rank of the layer ``module`` belongs to, or None for modules outside the console (Django, pep...)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        rank = _RANK.get(".".join(parts[:end]))
        if rank is not None:
            return rank
    return None


def imported_modules(module: str, source: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every import anywhere in ``source``, relative imports resolved against ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # "from accounts import actions" names a submodule; its layer is the same as the package's
            # for every package here, so the target above is enough.
    return found


def upward_imports(module: str, source: str, *, is_package: bool = False) -> list[str]:
    own = layer_of(module)
    assert own is not None, f"{module} belongs to no layer: add it to LAYERS in {__file__}"
    problems = []
    for line, target in imported_modules(module, source, is_package=is_package):
        rank = layer_of(target)
        if rank is not None and rank > own:
            problems.append(f"{module}:{line} ({LAYERS[own][0]}) imports {target} ({LAYERS[rank][0]})")
    return problems


def console_modules() -> list[tuple[str, Path]]:
    modules = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules.append((name, path))
    return modules


def test_no_module_imports_a_higher_layer():
    modules = console_modules()
    assert len(modules) > 100  # the walk really covers the code base
    problems = []
    for name, path in modules:
        problems += upward_imports(name, path.read_text(), is_package=path.name == "__init__.py")
    assert not problems, "imports that run up the layers:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("accounts.actions.identities", "from certificates.actions import revoke_certificates_of_identity\n"),
        ("accounts.actions.identities", "def f():\n    from policies import actions\n    return actions\n"),
        ("ztconsole.core.views", "def f():\n    import accounts.models\n"),
        ("certificates.views", "from ..policies import selectors\n"),
        ("policies.tasks", "import console.views\n"),
        ("ztconsole.core.api", "from ztconsole.api_urls import router\n"),
    ],
)
def test_an_upward_import_is_caught_even_inside_a_function(module, source):
    assert len(upward_imports(module, source)) == 1


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("policies.actions", "from accounts.models import Identity\nfrom ztconsole.core import hooks\n"),
        ("certificates.apps", "def ready():\n    from certificates import actions\n"),
        ("console.views", "from policies.selectors import dashboard_summary\n"),
        ("ztconsole.urls", "from console.views import DashboardView\n"),
        ("accounts.views", "from . import actions\nfrom django.db import transaction\nimport pep.engine\n"),
    ],
)
def test_imports_down_or_sideways_are_allowed(module, source):
    assert upward_imports(module, source) == []
