"""GridMap URLs: the API under /api/, the admin, the OpenAPI schema and its docs."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from gridmap.api.views import GridUnitViewSet, LocateView
from layers.api.views import UnitSummaryView
from project.views import home

router = DefaultRouter()
router.register("units", GridUnitViewSet, basename="unit")

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("gridmap/favicon.svg"), permanent=True)),
    path("api/locate/", LocateView.as_view(), name="locate"),
    path("api/units/<int:pk>/summary/", UnitSummaryView.as_view(), name="unit-summary"),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
]
