from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class GridmapConfig(AppConfig):
    name = "gridmap"
    verbose_name = _("四级网格")

    def ready(self) -> None:
        from gridmap.roles import ensure_roles

        # Permissions exist only after every app has migrated, so roles are set up then.
        post_migrate.connect(ensure_roles, dispatch_uid="gridmap.ensure_roles")
