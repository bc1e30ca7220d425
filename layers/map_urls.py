"""Map pages of the layers under /map/ (the dispatcher's desk, the 15-minute service
circles, the grid worker's page)."""

from django.urls import path

from layers import pages

urlpatterns = [
    path("dispatch/", pages.dispatch, name="map-dispatch"),
    path("coverage/", pages.coverage, name="map-coverage"),
    path("grid/", pages.grid, name="map-grid"),
]
