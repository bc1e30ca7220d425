"""manage.py create_demo_users: one account per role for the demo (idempotent)."""

from __future__ import annotations

import os

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from gridmap.models import GridUnit, StaffMember
from gridmap.roles import ROLES

# The demo grid worker is the full-time worker of 利民社区's first grid, so the case workflow
# (which lets a grid's own staff act on its cases) can be tried with the demo data.
DEMO_WORKER_GRID = "620200002003001"


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
        worker = User.objects.get(username="grid_worker")
        post = (
            StaffMember.objects.filter(unit__code=DEMO_WORKER_GRID, role="full_time_worker")
            .order_by("pk")
            .first()
        )
        if post is not None and not StaffMember.objects.filter(user=worker).exists():
            post.user = worker
            post.save(update_fields=["user"])
            self.stdout.write(f"grid_worker → {post.name}, {GridUnit.objects.get(pk=post.unit_id)}")
        if created:
            self.stdout.write(
                f"演示账号 / demo accounts: {', '.join(created)} (password: {password}; "
                "set GRIDMAP_DEMO_PASSWORD to choose another)"
            )
