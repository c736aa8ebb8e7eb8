"""The sidebar: grouped by domain, only the pages a role may open, and only pages that exist."""

from __future__ import annotations

import re

import pytest

from ztconsole.core import context_processors
from ztconsole.core.context_processors import NavEntry
from ztconsole.core.roles import VIEW_CONSOLE

pytestmark = pytest.mark.django_db


def _sections(html: str) -> dict[str, list[str]]:
    nav = html.split('<nav aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    sections: dict[str, list[str]] = {}
    current = ""
    for heading, label in re.findall(r'<h2 class="sidebar-heading">([^<]+)</h2>|<a href="[^"]+"[^>]*>([^<]+)</a>', nav):
        if heading:
            current = heading.replace("&amp;", "&")
            sections[current] = []
        else:
            sections.setdefault(current, []).append(label)
    return sections


def test_administrator_sees_every_domain(personas, verified_client):
    sections = _sections(verified_client(personas["admin"]).get("/").content.decode())
    assert list(sections) == ["", "Identity & access", "Policy", "PKI", "Operations"]
    assert sections["Identity & access"] == ["Identities", "Desks", "Devices", "Hardware tokens", "API tokens"]
    assert sections["Policy"] == ["Policy draft", "Publications", "Simulator", "Enforcement points"]
    assert sections["Operations"] == ["FIX sessions", "Alerts", "Audit log", "Reports", "API docs"]


def test_trader_sees_only_what_a_trader_may_open(personas, verified_client):
    sections = _sections(verified_client(personas["trader"]).get("/").content.decode())
    assert "Policy" not in sections
    assert sections["Operations"] == ["FIX sessions"]  # the sessions of identities they are or sponsor
    assert sections["Identity & access"] == ["Devices"]


def test_current_page_is_marked(personas, verified_client):
    html = verified_client(personas["admin"]).get("/policies/simulator/").content.decode()
    assert '<a href="/policies/simulator/" aria-current="page">Simulator</a>' in html
    assert html.count('aria-current="page"') == 1


def test_an_entry_for_a_page_not_built_yet_is_not_shown(personas, verified_client, monkeypatch):
    navigation = [
        *context_processors.NAVIGATION,
        ("Operations", [NavEntry("Notices", "notices:list", VIEW_CONSOLE)]),
    ]
    monkeypatch.setattr(context_processors, "NAVIGATION", navigation)
    html = verified_client(personas["admin"]).get("/").content.decode()
    assert ">Notices<" not in html and ">Audit log<" in html


def test_pages_use_our_own_static_files_only(personas, verified_client):
    html = verified_client(personas["admin"]).get("/").content.decode()
    assert "vendor/bootstrap-5.3.8/css/bootstrap.min.css" in html and 'rel="icon"' in html
    assert "https://" not in html.split("<body", 1)[0]  # no CDN in the head
