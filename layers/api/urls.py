"""Map-layer API routes (buildings, cameras, aggregated households, unit load, search)."""

urlpatterns: list = []
