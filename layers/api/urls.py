"""Map-layer API routes (buildings, cameras, facilities, aggregated households, unit load, search)."""

from django.urls import path

from layers.api.views import (
    BuildingLayerView,
    CameraLayerView,
    FacilityLayerView,
    HouseholdLayerView,
    SearchView,
    UnitLoadView,
)

urlpatterns = [
    path("layers/buildings/", BuildingLayerView.as_view(), name="layer-buildings"),
    path("layers/cameras/", CameraLayerView.as_view(), name="layer-cameras"),
    path("layers/facilities/", FacilityLayerView.as_view(), name="layer-facilities"),
    path("layers/households/", HouseholdLayerView.as_view(), name="layer-households"),
    path("layers/load/", UnitLoadView.as_view(), name="layer-load"),
    path("search/", SearchView.as_view(), name="search"),
]
