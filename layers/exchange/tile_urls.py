"""Vector tile routes under /tiles/ (project/urls.py): a layer's tiles and its TileJSON. z, x and
y take anything up to the next slash, so that a bad one gets a 400 that says why."""

from django.urls import re_path

from layers.exchange import tiles

urlpatterns = [
    re_path(
        r"^(?P<name>[a-z_]+)/(?P<z>[^/]+)/(?P<x>[^/]+)/(?P<y>[^/]+)\.pbf$",
        tiles.tile_view,
        name="tile",
    ),
    re_path(r"^(?P<name>[a-z_]+)\.json$", tiles.tilejson_view, name="tilejson"),
    re_path(r"", tiles.not_found),
]
