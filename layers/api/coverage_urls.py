"""Coverage (15-minute service circle) API routes."""

urlpatterns: list = []
