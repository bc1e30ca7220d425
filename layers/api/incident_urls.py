"""Incident (case) API routes."""

urlpatterns: list = []
