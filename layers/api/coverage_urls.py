"""Coverage (15-minute service circle) API routes."""

from django.urls import path

from layers.api.coverage import (
    BuildingsCoverageView,
    HolesView,
    HouseholdsCoverageView,
    IsochronesView,
    SitingView,
    UnitCoverageView,
    UnitsCoverageView,
)

urlpatterns = [
    path("coverage/isochrones/", IsochronesView.as_view(), name="coverage-isochrones"),
    path("coverage/units/", UnitsCoverageView.as_view(), name="coverage-units"),
    path("coverage/units/<int:pk>/", UnitCoverageView.as_view(), name="coverage-unit"),
    path("coverage/holes/", HolesView.as_view(), name="coverage-holes"),
    path("coverage/buildings/", BuildingsCoverageView.as_view(), name="coverage-buildings"),
    path("coverage/households/", HouseholdsCoverageView.as_view(), name="coverage-households"),
    path("coverage/siting/", SitingView.as_view(), name="coverage-siting"),
]
