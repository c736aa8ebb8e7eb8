from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.AlertListView.as_view(), name="list"),
    path("rules/", views.RuleListView.as_view(), name="rules"),
    path("rules/<slug:detector>/", views.RuleUpdateView.as_view(), name="rule_update"),
    path("<int:pk>/", views.AlertDetailView.as_view(), name="detail"),
    path("<int:pk>/acknowledge/", views.AcknowledgeView.as_view(), name="acknowledge"),
    path("<int:pk>/release/", views.ReleaseView.as_view(), name="release"),
]
