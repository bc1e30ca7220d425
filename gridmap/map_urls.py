"""Map pages under /map/."""

from django.urls import path

from gridmap import pages

urlpatterns = [
    path("plan/", pages.plan, name="map-plan"),
]
