"""Incident (case) API routes."""

from django.urls import path

from layers.api.incidents import (
    IncidentCountsView,
    IncidentDetailView,
    IncidentEscalateView,
    IncidentListView,
    IncidentPhotoView,
    IncidentReportsView,
    IncidentTransitionView,
)

urlpatterns = [
    path("incidents/", IncidentListView.as_view(), name="incidents"),
    path("incidents/counts/", IncidentCountsView.as_view(), name="incident-counts"),
    path("incidents/<int:pk>/", IncidentDetailView.as_view(), name="incident-detail"),
    path(
        "incidents/<int:pk>/transition/",
        IncidentTransitionView.as_view(),
        name="incident-transition",
    ),
    path("incidents/<int:pk>/escalate/", IncidentEscalateView.as_view(), name="incident-escalate"),
    path("incidents/<int:pk>/reports/", IncidentReportsView.as_view(), name="incident-reports"),
    path(
        "incidents/<int:pk>/photos/<int:transition_id>/",
        IncidentPhotoView.as_view(),
        name="incident-photo",
    ),
]
