"""The landing page."""

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gridmap.models import GridUnit


def home(request: HttpRequest) -> HttpResponse:
    networks = []
    if request.user.is_authenticated:
        networks = GridUnit.objects.filter(level=GridUnit.Level.NETWORK).order_by("code")
        for network in networks:
            counts = GridUnit.objects.filter(code__startswith=network.code).values("level")
            by_level = {row["level"]: row["n"] for row in counts.annotate(n=Count("id"))}
            network.segments = by_level.get("segment", 0)
            network.nodes = by_level.get("node", 0)
            network.grids = by_level.get("grid", 0)
    return render(request, "home.html", {"networks": networks})
