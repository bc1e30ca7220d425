"""Map pages under /map/."""

urlpatterns: list = []
