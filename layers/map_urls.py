"""Map pages of the layers under /map/ (the dispatcher's desk)."""

from django.urls import path

from layers import pages

urlpatterns = [
    path("dispatch/", pages.dispatch, name="map-dispatch"),
]
