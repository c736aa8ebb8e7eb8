"""docs/permissions.md shows the same role table as ztconsole/core/roles.py."""

from pathlib import Path

from ztconsole.core.roles import ROLE_PERMISSIONS, ROLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_permission_table_in_docs_matches_roles():
    lines = [line.strip() for line in DOC.read_text().splitlines() if line.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["permission", *ROLES]
    documented = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(header) or not cells[0].startswith("`"):
            continue
        documented[cells[0].strip("`")] = {role for role, cell in zip(ROLES, cells[1:], strict=True) if cell == "yes"}
    expected = {}
    for role, perms in ROLE_PERMISSIONS.items():
        for perm in perms:
            expected.setdefault(perm, set()).add(role)
    assert documented == expected
