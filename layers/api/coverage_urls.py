"""Coverage (15-minute service circle) API routes."""

from django.urls import path

from layers.api.coverage import (
    HolesView,
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
    path("coverage/siting/", SitingView.as_view(), name="coverage-siting"),
]
