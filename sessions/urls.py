from django.urls import path

from sessions import views

app_name = "sessions"

urlpatterns = [
    path("", views.SessionListView.as_view(), name="list"),
    path("<int:pk>/", views.SessionDetailView.as_view(), name="detail"),
    path("<int:pk>/terminate/", views.TerminateSessionView.as_view(), name="terminate"),
]
