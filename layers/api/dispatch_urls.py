"""Dispatch (locate-and-route) API routes."""

from django.urls import path

from layers.api.dispatch import CameraSectorView, DispatchView

urlpatterns = [
    path("dispatch/", DispatchView.as_view(), name="dispatch"),
    path("dispatch/cameras/", CameraSectorView.as_view(), name="dispatch-cameras"),
]
