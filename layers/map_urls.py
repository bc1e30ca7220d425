"""Map pages of the layers under /map/ (the dispatcher's desk)."""

urlpatterns: list = []
