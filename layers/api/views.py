"""Layer API views."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap.models import GridUnit
from layers.services.summary import unit_summary


class UnitSummaryView(APIView):
    """单元统计：户数、人数、五色分布、网格工作量、社区人员配备标准 / unit summary."""

    required_permissions = ["gridmap.view_gridunit", "layers.view_building"]

    @extend_schema(
        responses=inline_serializer(
            "UnitSummary",
            {
                "unit": serializers.DictField(),
                "households": serializers.IntegerField(),
                "residents": serializers.IntegerField(),
                "households_by_color": serializers.DictField(child=serializers.IntegerField()),
                "attention": serializers.DictField(child=serializers.IntegerField()),
                "grids": serializers.ListField(child=serializers.DictField()),
                "grids_flagged": serializers.IntegerField(),
                "required_staff": serializers.IntegerField(
                    required=False, help_text="仅网节 / nodes only"
                ),
            },
        )
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(unit_summary(get_object_or_404(GridUnit, pk=pk)))
