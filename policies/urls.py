from django.urls import path

from policies import views
from policies.distribution import views as enforcement

app_name = "policies"

urlpatterns = [
    path("", views.DraftView.as_view(), name="draft"),
    path("segments/new/", views.SegmentFormView.as_view(), name="segment_new"),
    path("segments/<int:pk>/", views.SegmentFormView.as_view(), name="segment_edit"),
    path("segments/<int:pk>/delete/", views.DraftDeleteView.as_view(model=views.Segment), name="segment_delete"),
    path("flows/new/", views.FlowFormView.as_view(), name="flow_new"),
    path(
        "flows/<int:pk>/delete/",
        views.DraftDeleteView.as_view(model=views.SegmentFlow, verb="delete_flow"),
        name="flow_delete",
    ),
    path("zones/new/", views.NetworkZoneFormView.as_view(), name="zone_new"),
    path("zones/<int:pk>/", views.NetworkZoneFormView.as_view(), name="zone_edit"),
    path(
        "zones/<int:pk>/delete/",
        views.DraftDeleteView.as_view(model=views.NetworkZone, verb="delete_network_zone"),
        name="zone_delete",
    ),
    path("countries/new/", views.CountryRangeFormView.as_view(), name="country_new"),
    path(
        "countries/<int:pk>/delete/",
        views.DraftDeleteView.as_view(model=views.CountryRange, verb="delete_country_range"),
        name="country_delete",
    ),
    path("access-rules/new/", views.AccessRuleFormView.as_view(), name="access_rule_new"),
    path("access-rules/<int:pk>/", views.AccessRuleFormView.as_view(), name="access_rule_edit"),
    path(
        "access-rules/<int:pk>/delete/",
        views.DraftDeleteView.as_view(model=views.AccessRule, verb="delete_access_rule"),
        name="access_rule_delete",
    ),
    path("risk-rules/new/", views.RiskRuleFormView.as_view(), name="risk_rule_new"),
    path("risk-rules/<int:pk>/", views.RiskRuleFormView.as_view(), name="risk_rule_edit"),
    path(
        "risk-rules/<int:pk>/delete/",
        views.DraftDeleteView.as_view(model=views.RiskRule, verb="delete_risk_rule"),
        name="risk_rule_delete",
    ),
    path("bands/", views.BandsView.as_view(), name="bands"),
    path("test-cases/new/", views.TestCaseFormView.as_view(), name="test_case_new"),
    path(
        "test-cases/<int:pk>/delete/",
        views.DraftDeleteView.as_view(model=views.SavedTestCase, verb="delete_test_case"),
        name="test_case_delete",
    ),
    path("publications/", views.PublicationListView.as_view(), name="publications"),
    path("publications/request/", views.PublishView.as_view(), name="publish"),
    path("publications/rollback/", views.RollbackView.as_view(), name="rollback"),
    path("publications/<int:pk>/", views.PublicationDetailView.as_view(), name="publication"),
    path("publications/<int:pk>/approve/", views.ApproveView.as_view(), name="approve"),
    path("publications/<int:pk>/reject/", views.RejectView.as_view(), name="reject"),
    path("signing-key.pem", views.SigningKeyView.as_view(), name="signing_key"),
    path("simulator/", views.SimulatorView.as_view(), name="simulator"),
    path("enforcement/", enforcement.LedgerView.as_view(), name="enforcement"),
    path("enforcement/register/", enforcement.RegisterPointView.as_view(), name="enforcement_register"),
    path("enforcement/<int:pk>/", enforcement.PointDetailView.as_view(), name="enforcement_point"),
    path("enforcement/<int:pk>/edit/", enforcement.EditPointView.as_view(), name="enforcement_edit"),
    path("enforcement/<int:pk>/retire/", enforcement.RetirePointView.as_view(), name="enforcement_retire"),
]
