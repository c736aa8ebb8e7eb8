"""The ledger page, a point's page, the publication's reach and the dashboard tile."""

from django.urls import reverse

from policies.distribution.models import Delivery, DeliveryState, EnforcementPoint
from tests.distribution.helpers import register


def _acknowledge(creds, pv):
    from policies.distribution.actions import _acknowledge

    _acknowledge(Delivery.objects.get(point=creds.point, number=pv.version), "applied")


def test_the_ledger_shows_each_point_and_how_many_enforce_the_version_in_force(personas, published, verified_client):
    ldn, nyc = register("pep-ldn"), register("pep-nyc")
    pv = published()
    _acknowledge(ldn, pv)
    response = verified_client(personas["compliance"]).get(reverse("policies:enforcement"), {"environment": "prod"})
    assert response.status_code == 200
    body = response.content.decode()
    assert f'In force: <a href="{reverse("policies:publication", args=[pv.pk])}">v{pv.version}</a>' in body
    assert response.context["converged"] == 1 and response.context["active"] == 2
    rows = {r["name"]: r for r in response.context["rows"]}
    assert rows["pep-ldn"]["lag"] == 0 and rows["pep-ldn"]["sha256"] == pv.sha256
    assert rows["pep-nyc"]["lag"] == pv.version and rows["pep-nyc"]["version"] is None
    assert "Register a point" not in body  # compliance reads only
    assert nyc.point.pk


def test_the_point_page_lists_its_deliveries(personas, published, verified_client):
    creds = register("pep-page")
    pv = published()
    response = verified_client(personas["security"]).get(reverse("policies:enforcement_point", args=[creds.point.pk]))
    assert response.status_code == 200
    assert [d.number for d in response.context["deliveries"]] == [pv.version]
    assert "Retire" not in response.content.decode()  # security officers see, administrators manage


def test_the_publication_page_shows_when_it_reached_each_point(personas, published, verified_client):
    ldn = register("pep-ldn")
    register("pep-nyc")
    pv = published()
    _acknowledge(ldn, pv)
    response = verified_client(personas["admin"]).get(reverse("policies:publication", args=[pv.pk]))
    reach = {row["point"].name: row["delivery"] for row in response.context["acknowledgements"]}
    assert reach["pep-ldn"].state == DeliveryState.ACKNOWLEDGED and reach["pep-ldn"].acknowledged_at
    assert reach["pep-nyc"].state == DeliveryState.PENDING


def test_the_dashboard_tile_counts_converged_points_and_alerts(personas, published, verified_client):
    client = verified_client(personas["admin"])
    assert "No enforcement point registered" in client.get(reverse("core:dashboard")).content.decode()
    ldn, nyc = register("pep-ldn"), register("pep-nyc")
    pv = published()
    _acknowledge(ldn, pv)
    from policies.distribution.actions import _refuse

    _refuse(Delivery.objects.get(point=nyc.point, number=pv.version), "bad_signature", "test")
    response = client.get(reverse("core:dashboard"))
    assert response.context["enforcement"] == {"active": 2, "converged": 1, "behind": 1, "alerts": 1}
    assert EnforcementPoint.objects.get(pk=nyc.point.pk).last_refusal_reason == "bad_signature"


def test_an_edit_with_a_bad_url_is_a_form_error(personas, pki, verified_client):
    creds = register("pep-edit")
    response = verified_client(personas["admin"]).post(
        reverse("policies:enforcement_edit", args=[creds.point.pk]), {"control_url": "nope", "status": "active"}
    )
    assert response.status_code == 400
    assert "control URL" in response.content.decode()
