"""manage.py create_demo_users: one account per role for the demo (idempotent)."""

from __future__ import annotations

import os

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from gridmap.roles import ROLES


class Command(BaseCommand):
    help = "为演示创建各角色账号 / create one demo account per role (and an admin)"

    def handle(self, *args, **options) -> None:
        password = os.environ.get("GRIDMAP_DEMO_PASSWORD", "gridmap-demo")
        created = []
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", password=password)
            created.append("admin")
        for role in ROLES:
            user, new = User.objects.get_or_create(username=role, defaults={"is_staff": True})
            if new:
                user.set_password(password)
                user.save()
                created.append(role)
            user.groups.add(Group.objects.get(name=role))
        if created:
            self.stdout.write(
                f"演示账号 / demo accounts: {', '.join(created)} (password: {password}; "
                "set GRIDMAP_DEMO_PASSWORD to choose another)"
            )
