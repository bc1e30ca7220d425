"""The workload dashboard under /map/."""

from django.urls import path

from layers import dashboard

urlpatterns = [
    path("dashboard/", dashboard.dashboard, name="map-dashboard"),
]
