"""Dispatch (locate-and-route) API routes."""

urlpatterns: list = []
