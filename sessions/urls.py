from django.urls import path

from sessions import views

app_name = "sessions"

urlpatterns = [
    path("", views.SessionListView.as_view(), name="list"),
    path("<int:pk>/", views.SessionDetailView.as_view(), name="detail"),
    path("<int:pk>/terminate/", views.TerminateSessionView.as_view(), name="terminate"),
    path("step-up/<int:pk>/", views.StepUpDetailView.as_view(), name="step_up"),
    path("step-up/<int:pk>/approve/", views.ApproveStepUpView.as_view(), name="step_up_approve"),
    path("step-up/<int:pk>/refuse/", views.RefuseStepUpView.as_view(), name="step_up_refuse"),
]
