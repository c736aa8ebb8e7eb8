"""The console's navigation: one table, grouped by domain, filtered by what the signed-in user may open.

To add a page to the sidebar, add one ``NavEntry`` to its section in ``NAVIGATION`` (or a new section). An
entry whose URL name does not resolve (a page not built yet) or whose permission the user lacks is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from ztconsole.core.roles import (
    EXPORT_AUDIT,
    MANAGE_API_TOKENS,
    MANAGE_TOKEN_INVENTORY,
    SIMULATE,
    VERIFY_AUDIT,
    VIEW_ALERTS,
    VIEW_API_DOCS,
    VIEW_AUDIT,
    VIEW_CERTIFICATES,
    VIEW_CONSOLE,
    VIEW_DEVICES,
    VIEW_ENFORCEMENT_POINTS,
    VIEW_IDENTITIES,
    VIEW_POLICY,
    VIEW_REPORTS,
    VIEW_SESSIONS,
    role_of,
)


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    permission: str


# (section heading or "" for the top, entries). Sections with no visible entry are not shown.
NAVIGATION: list[tuple[str, list[NavEntry]]] = [
    ("", [NavEntry("Dashboard", "core:dashboard", VIEW_CONSOLE)]),
    (
        "Identity & access",
        [
            NavEntry("Identities", "accounts:identity_list", VIEW_IDENTITIES),
            NavEntry("Desks", "accounts:desk_list", VIEW_IDENTITIES),
            NavEntry("Devices", "accounts:device_list", VIEW_DEVICES),
            NavEntry("Hardware tokens", "accounts:token_inventory", MANAGE_TOKEN_INVENTORY),
            NavEntry("API tokens", "accounts:token_list", MANAGE_API_TOKENS),
        ],
    ),
    (
        "Policy",
        [
            NavEntry("Policy draft", "policies:draft", VIEW_POLICY),
            NavEntry("Publications", "policies:publications", VIEW_POLICY),
            NavEntry("Simulator", "policies:simulator", SIMULATE),
            NavEntry("Enforcement points", "policies:enforcement", VIEW_ENFORCEMENT_POINTS),
        ],
    ),
    (
        "PKI",
        [
            NavEntry("Certificates", "certificates:list", VIEW_CERTIFICATES),
            NavEntry("Certificate requests", "certificates:requests", VIEW_CERTIFICATES),
            NavEntry("TLS profile", "certificates:tls_profile", VIEW_CERTIFICATES),
            NavEntry("Compliance", "certificates:compliance", VIEW_CERTIFICATES),
        ],
    ),
    (
        "Operations",
        [
            NavEntry("FIX sessions", "sessions:list", VIEW_SESSIONS),
            NavEntry("Alerts", "alerts:list", VIEW_ALERTS),
            NavEntry("Audit log", "core:audit_list", VIEW_AUDIT),
            NavEntry("Chain verification", "core:audit_verifications", VERIFY_AUDIT),
            NavEntry("Reports", "reports:index", VIEW_REPORTS),
            NavEntry("Audit exports", "reports:audit_exports", EXPORT_AUDIT),
            NavEntry("API docs", "api-docs", VIEW_API_DOCS),
        ],
    ),
]


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def navigation(request):
    """``nav_sections`` for the sidebar; ``nav`` (a flat list) for templates that want every entry."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_verified():
        return {"nav": [], "nav_sections": [], "nav_role": None}
    sections = []
    for heading, entries in NAVIGATION:
        items = []
        for entry in entries:
            url = _url(entry.url_name)
            if url is not None and user.has_perm(entry.permission):
                items.append({"label": entry.label, "url": url, "active": False})
        if items:
            sections.append({"label": heading, "items": items})
    flat = [item for section in sections for item in section["items"]]
    # The longest matching entry is the active one (/policies/simulator/ is not also /policies/).
    path = request.path
    matching = [item for item in flat if (path == item["url"] if item["url"] == "/" else path.startswith(item["url"]))]
    if matching:
        max(matching, key=lambda item: len(item["url"]))["active"] = True
    return {"nav": flat, "nav_sections": sections, "nav_role": role_of(user)}
