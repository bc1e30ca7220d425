"""GridMap URLs: the API under /api/, OGC API – Features under /ogc/, vector tiles under /tiles/,
the map pages, the admin, the OpenAPI schema and its docs."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from gridmap.api.edits import (
    EditDetailView,
    EditListView,
    MergeView,
    ReshapeView,
    RestoreView,
    SplitView,
    TransferView,
    UndoView,
    UnitHistoryView,
)
from gridmap.api.topology import TopologyView
from gridmap.api.views import GridUnitViewSet, LocateView, api_not_found
from layers.api.views import UnitSummaryView
from project.views import home

admin.site.site_header = "GridMap 网格化管理"
admin.site.site_title = "GridMap"
admin.site.index_title = "数据管理 / data"

router = DefaultRouter()
router.register("units", GridUnitViewSet, basename="unit")

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("gridmap/favicon.svg"), permanent=True)),
    path("api/locate/", LocateView.as_view(), name="locate"),
    path("api/topology/", TopologyView.as_view(), name="topology"),
    path("api/units/<int:pk>/summary/", UnitSummaryView.as_view(), name="unit-summary"),
    path("api/units/<int:pk>/history/", UnitHistoryView.as_view(), name="unit-history"),
    path("api/units/<int:pk>/reshape/", ReshapeView.as_view(), name="unit-reshape"),
    path("api/units/<int:pk>/split/", SplitView.as_view(), name="unit-split"),
    path("api/units/<int:pk>/merge/", MergeView.as_view(), name="unit-merge"),
    path("api/units/<int:pk>/transfer/", TransferView.as_view(), name="unit-transfer"),
    path("api/units/<int:pk>/restore/", RestoreView.as_view(), name="unit-restore"),
    path("api/edits/", EditListView.as_view(), name="edits"),
    path("api/edits/<int:pk>/", EditDetailView.as_view(), name="edit-detail"),
    path("api/edits/<int:pk>/undo/", UndoView.as_view(), name="edit-undo"),
    path("api/", include("layers.api.urls")),
    path("api/", include("layers.api.incident_urls")),
    path("api/", include("layers.api.dispatch_urls")),
    path("api/", include("layers.api.coverage_urls")),
    path("api/", include("layers.api.import_urls")),
    path("api/", include("layers.api.visit_urls")),
    path("api/", include("layers.api.workload_urls")),
    path("api/", include("layers.exchange.urls")),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Anything else under /api/ answers in the API's error shape, not Django's HTML page.
    re_path(r"^api/", api_not_found),
    path("map/", include("gridmap.map_urls")),
    path("map/", include("layers.map_urls")),
    path("map/", include("layers.dashboard_urls")),
    path("ogc/", include("layers.exchange.ogc_urls")),
    path("tiles/", include("layers.exchange.tile_urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
