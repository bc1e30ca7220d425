"""Grid units as GeoJSON, and the shapes of the locate answer."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from gridmap.models import GridUnit, StaffMember


class GridUnitSerializer(GeoFeatureModelSerializer):
    parent_code = serializers.CharField(source="parent.code", default=None, read_only=True)
    level_label = serializers.CharField(source="get_level_display", read_only=True)

    class Meta:
        model = GridUnit
        geo_field = "geom"
        fields = [
            "id",
            "level",
            "level_label",
            "code",
            "name",
            "parent",
            "parent_code",
            "target_households",
            "version",
            "updated_at",
        ]


class UnitRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class StaffSerializer(serializers.ModelSerializer):
    role_label = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = StaffMember
        fields = ["role", "role_label", "name", "phone"]


class LocateQuerySerializer(serializers.Serializer):
    """Documents the query; parsing and its bilingual errors live in the view."""

    lon = serializers.FloatField(help_text="经度 / longitude")
    lat = serializers.FloatField(help_text="纬度 / latitude")
    crs = serializers.ChoiceField(
        choices=["wgs84", "cgcs2000", "gcj02", "bd09"],
        default="wgs84",
        help_text="输入坐标系 / input CRS",
    )
    at = serializers.CharField(
        required=False,
        help_text="历史时点：日期 YYYY-MM-DD（当日结束时）或时间 / a past instant: a date (its end) "
        "or a datetime; answers from the boundary history",
    )


class ConversionSerializer(serializers.Serializer):
    crs = serializers.CharField()
    applied = serializers.CharField()
    note = serializers.CharField()


class LocateResultSerializer(serializers.Serializer):
    point = serializers.ListField(child=serializers.FloatField(), help_text="WGS84 [lon, lat]")
    input = serializers.DictField()
    conversion = ConversionSerializer()
    network = UnitRefSerializer(allow_null=True)
    segment = UnitRefSerializer(allow_null=True)
    node = UnitRefSerializer(allow_null=True)
    grid = UnitRefSerializer(allow_null=True)
    staff = StaffSerializer(many=True)
    reason = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(required=False, help_text="with at= only")
