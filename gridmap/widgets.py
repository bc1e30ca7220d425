"""The admin's map widget: OpenLayers served from our own static files, no basemap from the
internet unless one is configured, and the grid units around the edited geometry for orientation."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.contrib.gis.forms.widgets import OpenLayersWidget
from django.contrib.gis.gdal import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Polygon
from django.db.models.functions import Length
from django.utils.safestring import SafeString, mark_safe

from gridmap.models import GridUnit

DEFAULT_CENTER = (98.29, 39.80)  # lon, lat (WGS84)
DEFAULT_ZOOM = 14
# Coarse units first, so that when a large area hits the limit the outlines kept are the big ones.
CONTEXT_UNITS_LIMIT = 300
# Around a point (or a tiny shape) show at least this much, in degrees (≈ 500 m).
CONTEXT_MIN_MARGIN = 0.005

# Like django.utils.html.json_script: no "<", ">" or "&" can end the inline <script> early.
_SCRIPT_SAFE = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


class OfflineMapWidget(OpenLayersWidget):
    """OpenLayers geometry widget that loads nothing from outside the app.

    Basemap: none by default (a plain background with a graticule), or the XYZ tiles of
    `settings.GRIDMAP_TILE_URL`, which must be a Web Mercator (EPSG:3857) template in WGS84 or
    CGCS2000 coordinates such as Tianditu's `_w` services; GCJ-02 tiles (AMap, Tencent) would be
    offset by hundreds of metres from our WGS84 data.
    Empty geometries open at `settings.GRIDMAP_DEFAULT_CENTER` (lon, lat) and
    `settings.GRIDMAP_DEFAULT_ZOOM`.
    """

    template_name = "gis/gridmap_openlayers.html"

    class Media:
        # Replace, not extend, the parent's media: it loads OpenLayers from cdn.jsdelivr.net.
        extend = False
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/ol.js", "gis/js/OLMapWidget.js")

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        lon, lat = getattr(settings, "GRIDMAP_DEFAULT_CENTER", DEFAULT_CENTER)
        zoom = getattr(settings, "GRIDMAP_DEFAULT_ZOOM", DEFAULT_ZOOM)
        context.update(
            default_lon=lon,
            default_lat=lat,
            default_zoom=zoom,
            tile_url=getattr(settings, "GRIDMAP_TILE_URL", ""),
            tile_attribution=getattr(settings, "GRIDMAP_TILE_ATTRIBUTION", ""),
            grid_units=self.grid_units_json(self.context_area(value, (lon, lat), zoom)),
        )
        return context

    def context_area(self, value: Any, center: tuple[float, float], zoom: int) -> Polygon:
        """The WGS84 box whose grid units are drawn: around the geometry, else the default view."""
        geom = self._wgs84(value)
        if geom is None:
            # A little more than a 600 px wide map shows at this zoom (360° / 2^zoom per 256 px).
            half = 2 * 360 / 2**zoom
            lon, lat = center
            return Polygon.from_bbox((lon - half, lat - half, lon + half, lat + half))
        xmin, ymin, xmax, ymax = geom.extent
        margin = max((xmax - xmin) / 2, (ymax - ymin) / 2, CONTEXT_MIN_MARGIN)
        return Polygon.from_bbox((xmin - margin, ymin - margin, xmax + margin, ymax + margin))

    def _wgs84(self, value: Any) -> GEOSGeometry | None:
        if isinstance(value, str):
            # A form redisplayed after a validation error carries the submitted text.
            value = self.deserialize(value) if value else None
        if not value or value.empty:
            return None
        if value.srid in (None, 4326):
            return value
        try:
            return value.transform(4326, clone=True)
        except (GDALException, GEOSException):
            return None

    @staticmethod
    def grid_units_json(area: Polygon) -> SafeString:
        """The units whose bounding box meets `area`, as a GeoJSON literal safe inside <script>."""
        area.srid = 4326
        rows = (
            GridUnit.objects.filter(geom__bboverlaps=area)
            .order_by(Length("code"), "code")
            .values_list("code", "name", "level", AsGeoJSON("geom", precision=6))
        )[:CONTEXT_UNITS_LIMIT]
        collection = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": code, "name": name, "level": level},
                    "geometry": json.loads(geometry),
                }
                for code, name, level, geometry in rows
            ],
        }
        return mark_safe(json.dumps(collection, ensure_ascii=False).translate(_SCRIPT_SAFE))
