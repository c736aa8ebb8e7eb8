from django.urls import reverse

from ztconsole.core.roles import (
    EXPORT_AUDIT,
    MANAGE_API_TOKENS,
    MANAGE_TOKEN_INVENTORY,
    SIMULATE,
    VIEW_API_DOCS,
    VIEW_AUDIT,
    VIEW_CERTIFICATES,
    VIEW_CONSOLE,
    VIEW_DEVICES,
    VIEW_IDENTITIES,
    VIEW_POLICY,
    role_of,
)

# (label, url name, permission): the navigation shows an entry only to roles that may open it.
NAVIGATION = [
    ("Dashboard", "core:dashboard", VIEW_CONSOLE),
    ("Identities", "accounts:identity_list", VIEW_IDENTITIES),
    ("Devices", "accounts:device_list", VIEW_DEVICES),
    ("Certificates", "certificates:list", VIEW_CERTIFICATES),
    ("Policy", "policies:draft", VIEW_POLICY),
    ("Simulator", "policies:simulator", SIMULATE),
    ("Hardware tokens", "accounts:token_inventory", MANAGE_TOKEN_INVENTORY),
    ("API tokens", "accounts:token_list", MANAGE_API_TOKENS),
    ("Audit log", "core:audit_list", VIEW_AUDIT),
    ("Audit exports", "reports:audit_exports", EXPORT_AUDIT),
    ("API docs", "api-docs", VIEW_API_DOCS),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_verified():
        return {"nav": [], "nav_role": None}
    path = request.path
    entries = [(label, reverse(name)) for label, name, perm in NAVIGATION if user.has_perm(perm)]
    # The longest matching entry is the active one (/policies/simulator/ is not also /policies/).
    matching = [url for _, url in entries if (path == url if url == "/" else path.startswith(url))]
    current = max(matching, key=len, default=None)
    items = [{"label": label, "url": url, "active": url == current} for label, url in entries]
    return {"nav": items, "nav_role": role_of(user)}
