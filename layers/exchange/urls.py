"""Exchange routes: file and GeoJSON export under /api/export/ (OGC API and tiles have their own
prefixes, added in project/urls.py)."""

from django.urls import re_path

from layers.exchange import views

urlpatterns = [
    re_path(
        r"^export/(?P<name>[a-z_]+)\.(?P<fmt>geojson|gpkg|shp\.zip|csv)$",
        views.ExportView.as_view(),
        name="export-layer",
    ),
]
