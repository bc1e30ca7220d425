from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LayersConfig(AppConfig):
    name = "layers"
    verbose_name = _("图层要素")

    def ready(self) -> None:
        # Connects the recompute-on-edit signals of the service circles (roads, facilities).
        from layers import coverage  # noqa: F401
