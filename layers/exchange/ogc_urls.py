"""OGC API – Features routes under /ogc/ (project/urls.py). Paths follow the standard, without a
trailing slash; one is tolerated, since clients build URLs by joining with "/"."""

from django.urls import path, re_path

from layers.exchange import ogc

urlpatterns = [
    path("", ogc.landing, name="ogc-landing"),
    re_path(r"^conformance/?$", ogc.conformance, name="ogc-conformance"),
    re_path(r"^api/?$", ogc.api_definition, name="ogc-api"),
    re_path(r"^collections/?$", ogc.collections, name="ogc-collections"),
    re_path(r"^collections/(?P<name>[^/]+)/?$", ogc.collection, name="ogc-collection"),
    re_path(r"^collections/(?P<name>[^/]+)/items/?$", ogc.items, name="ogc-items"),
    re_path(
        r"^collections/(?P<name>[^/]+)/items/(?P<feature_id>[^/]+)/?$", ogc.item, name="ogc-item"
    ),
    # Anything else under /ogc/ answers in the API's error shape, not Django's HTML page.
    re_path(r"", ogc.not_found),
]
