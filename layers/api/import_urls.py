"""File import API routes (import-units, import-layer)."""

from django.urls import path

from layers.api.imports import LayerImportView, UnitImportView

urlpatterns = [
    path("import/units/", UnitImportView.as_view(), name="import-units"),
    path("import/<str:layer>/", LayerImportView.as_view(), name="import-layer"),
]
