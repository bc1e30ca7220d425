"""Household visit API routes (five-colour visit schedules)."""

from django.urls import path

from layers.api.visits import (
    HouseholdColorView,
    HouseholdVisitsView,
    VisitPhotoView,
    VisitsDueView,
    VisitWorkloadView,
)

urlpatterns = [
    path("visits/due/", VisitsDueView.as_view(), name="visits-due"),
    path("visits/workload/", VisitWorkloadView.as_view(), name="visits-workload"),
    path("households/<int:pk>/visits/", HouseholdVisitsView.as_view(), name="household-visits"),
    path(
        "households/<int:pk>/visits/<int:visit_id>/photo/",
        VisitPhotoView.as_view(),
        name="visit-photo",
    ),
    path("households/<int:pk>/color/", HouseholdColorView.as_view(), name="household-color"),
]
