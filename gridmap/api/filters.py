"""Filters for the units list: level, parent (id or code) and bbox."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from gridmap.api.errors import ApiError
from gridmap.models import GridUnit


class GridUnitFilter(django_filters.FilterSet):
    level = django_filters.ChoiceFilter(choices=GridUnit.Level.choices)
    parent = django_filters.CharFilter(
        method="filter_parent", help_text="上级单元的 id 或编码 / parent id or code"
    )

    class Meta:
        model = GridUnit
        fields = ["level", "parent"]

    def filter_parent(self, queryset, name, value):
        if not value.isdigit():
            raise ApiError(
                "invalid_parent",
                f"parent 应为单元 id 或数字编码，收到 '{value}' / parent must be a unit id or "
                f"code, got '{value}'",
                "parent",
            )
        condition = Q(parent__code=value)
        if value.isdigit() and len(value) < 6:
            condition |= Q(parent_id=int(value))
        return queryset.filter(condition)
