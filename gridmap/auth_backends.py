"""Model permissions cached per user for a minute: the role check ran two queries per request,
more than the locate lookup itself. Role changes take effect within PERMISSION_CACHE_SECONDS."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache

PERMISSION_CACHE_SECONDS = 60


class CachedPermissionsBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            key = f"gridmap:perms:{user_obj.pk}"
            perms = cache.get(key)
            if perms is None:
                perms = super().get_all_permissions(user_obj, obj)
                cache.set(key, perms, PERMISSION_CACHE_SECONDS)
            user_obj._perm_cache = perms
        return user_obj._perm_cache
