"""What sits on the grid: buildings, households, cameras, facilities, roads, and incidents (cases)
with their timeline and per-category deadlines; service circles; platform tokens and which layers
are published without one."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.gis.db.models.functions import PointOnSurface
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GistIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from gridmap.models import GridAssigned, GridUnit, StaffMember


class Building(GridAssigned):
    """A building footprint; assigned to the grid that holds a point on its surface."""

    class Kind(models.TextChoices):
        RESIDENTIAL = "residential", _("住宅")
        COMMERCIAL = "commercial", _("商业")
        PUBLIC = "public", _("公共")
        INDUSTRIAL = "industrial", _("工业")
        OTHER = "other", _("其他")

    name = models.CharField(_("名称"), max_length=100, blank=True)
    road = models.CharField(_("道路"), max_length=60, blank=True, db_index=True)
    number = models.CharField(_("门牌号"), max_length=20, blank=True)
    kind = models.CharField(
        _("类型"), max_length=12, choices=Kind.choices, default=Kind.RESIDENTIAL
    )
    floors = models.PositiveSmallIntegerField(_("层数"), default=1)
    units = models.PositiveSmallIntegerField(_("单元数"), default=1)
    footprint = models.PolygonField(_("轮廓"), srid=4326)
    # ST_PointOnSurface, unlike the centroid, is always inside an L- or U-shaped footprint.
    anchor = models.GeneratedField(
        expression=PointOnSurface("footprint"),
        output_field=models.PointField(srid=4326),
        db_persist=True,
        verbose_name=_("定位点"),
    )

    grid_anchor = "anchor"

    class Meta:
        verbose_name = _("建筑")
        verbose_name_plural = _("建筑")
        ordering = ["road", "number", "id"]
        # A generated column gets no spatial index by itself; assignment probes it by area.
        indexes = [GistIndex(fields=["anchor"], name="building_anchor_gist")]

    def __str__(self) -> str:
        return self.name or f"{self.road}{self.number}"

    @property
    def address(self) -> str:
        return f"{self.road}{self.number}"


class Household(GridAssigned):
    """A household (户). Without a point of its own it follows its building's grid."""

    class Color(models.TextChoices):
        # Five-color management (五色管理), seed 004: how much attention a household needs.
        RED = "red", _("红色（一类）")
        ORANGE = "orange", _("橙色（二类）")
        YELLOW = "yellow", _("黄色（三类）")
        BLUE = "blue", _("蓝色（四类）")
        GREEN = "green", _("绿色（五类）")

    building = models.ForeignKey(
        Building, verbose_name=_("建筑"), on_delete=models.PROTECT, related_name="households"
    )
    unit_no = models.PositiveSmallIntegerField(_("单元"), default=1)
    floor = models.SmallIntegerField(_("楼层"), default=1)
    room = models.CharField(_("房号"), max_length=10, blank=True)
    location = models.PointField(_("独立位置"), srid=4326, null=True, blank=True)
    residents = models.PositiveSmallIntegerField(_("人数"), default=1)
    color = models.CharField(
        _("五色分类"), max_length=6, choices=Color.choices, default=Color.GREEN
    )
    aged_60_plus = models.PositiveSmallIntegerField(_("60岁以上"), default=0)
    disabled = models.PositiveSmallIntegerField(_("残疾人"), default=0)
    floating = models.PositiveSmallIntegerField(_("流动人口"), default=0)
    retired = models.PositiveSmallIntegerField(_("退休人员"), default=0)
    unemployed = models.PositiveSmallIntegerField(_("失业人员"), default=0)
    party_members = models.PositiveSmallIntegerField(_("党员"), default=0)
    # Personal data: never exported, shown only to roles allowed to see it.
    head_name = models.CharField(_("户主姓名"), max_length=50, blank=True)
    head_phone = models.CharField(_("联系电话"), max_length=20, blank=True)

    grid_anchor = "location"
    grid_follows = "building"
    grid_counts_as_load = True
    PRIVATE_FIELDS = ("head_name", "head_phone", "room")

    class Meta:
        verbose_name = _("住户")
        verbose_name_plural = _("住户")
        ordering = ["building_id", "unit_no", "floor", "room"]
        # The households that follow their building: found by building, never by scanning
        # the point index for NULLs (what the planner did without it, 30× slower).
        indexes = [
            models.Index(
                fields=["building"],
                condition=Q(location__isnull=True),
                name="household_follows_building",
            )
        ]
        constraints = [
            models.CheckConstraint(
                name="household_category_counts_within_residents",
                condition=Q(aged_60_plus__lte=F("residents"))
                & Q(disabled__lte=F("residents"))
                & Q(floating__lte=F("residents"))
                & Q(retired__lte=F("residents"))
                & Q(unemployed__lte=F("residents"))
                & Q(party_members__lte=F("residents")),
            ),
        ]

    def __str__(self) -> str:
        # No room number: this text shows in admin titles and logs to users who may not see it.
        return f"{self.building} {self.unit_no}单元 #{self.pk}"


class Camera(GridAssigned):
    """A camera; what it sees is the sector of `fov` degrees around `bearing`, `range_m` deep."""

    class Status(models.TextChoices):
        ONLINE = "online", _("在线")
        OFFLINE = "offline", _("离线")
        FAULT = "fault", _("故障")

    code = models.CharField(_("编号"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100, blank=True)
    location = models.PointField(_("位置"), srid=4326)
    bearing = models.FloatField(
        _("朝向（度，正北顺时针）"), validators=[MinValueValidator(0), MaxValueValidator(360)]
    )
    fov = models.FloatField(
        _("视场角（度）"), validators=[MinValueValidator(1), MaxValueValidator(360)]
    )
    range_m = models.FloatField(_("可视距离（米）"), validators=[MinValueValidator(1)])
    status = models.CharField(
        _("状态"), max_length=8, choices=Status.choices, default=Status.ONLINE
    )

    grid_anchor = "location"

    class Meta:
        verbose_name = _("摄像头")
        verbose_name_plural = _("摄像头")
        ordering = ["code"]
        # Dispatch reads max(range_m) on every request to size its search box: index-only.
        indexes = [models.Index(fields=["range_m"], name="camera_range_m")]
        constraints = [
            models.CheckConstraint(
                name="camera_angles_in_range",
                condition=Q(bearing__gte=0, bearing__lte=360, fov__gt=0, fov__lte=360)
                & Q(range_m__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.code


class Facility(GridAssigned):
    """A service facility of the 15-minute life circle; the ten kinds of seed 001."""

    class Kind(models.TextChoices):
        PARTY = "party", _("党群服务")
        GOVERNMENT = "government", _("政务服务")
        COMMITTEE = "committee", _("居委会")
        MEDICAL = "medical", _("医疗卫生")
        ELDERLY = "elderly", _("养老服务")
        EDUCATION = "education", _("教育")
        CULTURE = "culture", _("文化")
        SPORTS = "sports", _("体育")
        RECREATION = "recreation", _("休闲娱乐")
        COMMERCE = "commerce", _("商业服务")

    kind = models.CharField(_("类别"), max_length=12, choices=Kind.choices, db_index=True)
    name = models.CharField(_("名称"), max_length=100)
    address = models.CharField(_("地址"), max_length=120, blank=True)
    location = models.PointField(_("位置"), srid=4326)

    grid_anchor = "location"

    class Meta:
        verbose_name = _("服务设施")
        verbose_name_plural = _("服务设施")
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class Road(models.Model):
    """A walkable segment of the road network (for service circles)."""

    class Kind(models.TextChoices):
        ARTERIAL = "arterial", _("主干道")
        STREET = "street", _("街道")
        PATH = "path", _("步行道")

    name = models.CharField(_("名称"), max_length=60, blank=True)
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices, default=Kind.STREET)
    walkable = models.BooleanField(_("可步行"), default=True)
    geom = models.LineStringField(_("线形"), srid=4326)

    class Meta:
        verbose_name = _("道路")
        verbose_name_plural = _("道路")

    def __str__(self) -> str:
        return self.name or f"road {self.pk}"


class ServiceCircle(models.Model):
    """A facility's service circle (生活圈): where one walks to it within `minutes`, along the
    walkable roads ("network") or, where it stands off every road, a straight-line "buffer".
    Kept by layers.coverage."""

    class Method(models.TextChoices):
        NETWORK = "network", _("路网步行")
        BUFFER = "buffer", _("直线缓冲")

    facility = models.ForeignKey(
        Facility, verbose_name=_("服务设施"), on_delete=models.CASCADE, related_name="circles"
    )
    minutes = models.PositiveSmallIntegerField(_("步行分钟"))
    method = models.CharField(_("方法"), max_length=8, choices=Method.choices)
    speed_mps = models.FloatField(_("步行速度（米/秒）"))
    # The settings it was computed with: circles whose speed or access distance differ from the
    # current settings are stale (build_service_circles --stale recomputes them).
    access_m = models.FloatField(_("接入距离（米）"), default=50)
    geom = models.MultiPolygonField(_("范围"), srid=4326)
    computed_at = models.DateTimeField(_("计算时间"), default=timezone.now)

    class Meta:
        verbose_name = _("服务圈")
        verbose_name_plural = _("服务圈")
        ordering = ["facility", "minutes"]
        constraints = [
            models.UniqueConstraint(
                fields=["facility", "minutes"], name="servicecircle_one_per_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.minutes} min"


class IncidentQuerySet(models.QuerySet):
    def open(self) -> IncidentQuerySet:
        return self.exclude(status__in=Incident.FINISHED)

    def overdue(self, now: dt.datetime | None = None) -> IncidentQuerySet:
        """Open cases whose deadline has passed (挂账 candidates and backlog alike)."""
        return self.open().filter(deadline__lt=now or timezone.now())


class Incident(GridAssigned):
    """A case (事件/案卷). `grid` follows boundary edits; `reported_grid` and
    `reported_grid_code` keep where it was reported. Its status and escalation level change only
    through layers.workflow, which logs every change as an IncidentTransition."""

    class Category(models.TextChoices):
        # Event major classes of CJ/T 214 digital urban management ...
        ENVIRONMENT = "environment", _("市容环境")
        ADVERTISING = "advertising", _("宣传广告")
        CONSTRUCTION = "construction", _("施工管理")
        EMERGENCY = "emergency", _("突发事件")
        STREET_ORDER = "street_order", _("街面秩序")
        EXTENDED = "extended", _("扩展事件")
        # ... and the kinds community governance adds.
        DISPUTE = "dispute", _("矛盾纠纷")
        PROPERTY_DISPUTE = "property_dispute", _("物业纠纷")
        PARKING = "parking", _("停车")
        NOISE = "noise", _("噪音扰民")
        SAFETY_HAZARD = "safety_hazard", _("安全隐患")

    class Status(models.TextChoices):
        RECEIVED = "received", _("接单受理")
        VERIFIED = "verified", _("现场核实")
        DISPATCHED = "dispatched", _("任务派遣")
        HANDLING = "handling", _("任务处理")
        FEEDBACK = "feedback", _("处理反馈")
        CLOSED = "closed", _("核查结案")
        RATED = "rated", _("综合评价")
        CANCELLED = "cancelled", _("作废")
        BACKLOG = "backlog", _("挂账")

    # The statuses a case does not leave (rated) or leaves only to be rated (closed).
    FINISHED = (Status.CLOSED, Status.RATED, Status.CANCELLED)

    category = models.CharField(_("类别"), max_length=20, choices=Category.choices)
    description = models.TextField(_("描述"), blank=True)
    status = models.CharField(
        _("状态"), max_length=12, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    # Who holds the case: the grid, its community (node), street (segment) or district (network).
    level = models.CharField(
        _("处置层级"), max_length=8, choices=GridUnit.Level.choices, default=GridUnit.Level.GRID
    )
    location = models.PointField(_("位置"), srid=4326)
    reported_at = models.DateTimeField(_("上报时间"), default=timezone.now, db_index=True)
    reported_grid = models.ForeignKey(
        GridUnit,
        verbose_name=_("上报时所在网格"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_incidents",
        limit_choices_to={"level": GridUnit.Level.GRID},
    )
    # Set by a database trigger from the first reported_grid and never blanked, so the code
    # outlives the grid when it is merged away (reported_grid then becomes NULL).
    reported_grid_code = models.CharField(
        _("上报时所在网格编码"), max_length=15, blank=True, editable=False
    )
    deadline = models.DateTimeField(_("处置时限"), null=True, blank=True, db_index=True)
    department = models.CharField(_("承办部门"), max_length=100, blank=True)
    rating = models.PositiveSmallIntegerField(
        _("评价"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = IncidentQuerySet.as_manager()

    grid_anchor = "location"
    grid_keep_first = "reported_grid"
    # A boundary edit reports the cases still being worked on, not the finished ones.
    grid_report_filter = "t.status NOT IN ({})".format(", ".join(f"'{s}'" for s in FINISHED))

    class Meta:
        verbose_name = _("事件")
        verbose_name_plural = _("事件")
        ordering = ["-reported_at"]
        constraints = [
            models.CheckConstraint(
                name="incident_rating_1_to_5",
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status not in self.FINISHED

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        """Open, with a deadline, and past it."""
        return (
            self.is_open and self.deadline is not None and (now or timezone.now()) > self.deadline
        )


class CaseDeadline(models.Model):
    """The handling time of one category (处置时限), overriding layers.services.deadlines."""

    category = models.CharField(
        _("类别"), max_length=20, choices=Incident.Category.choices, unique=True
    )
    hours = models.PositiveIntegerField(
        _("时限（小时）"), validators=[MinValueValidator(1), MaxValueValidator(24 * 90)]
    )

    class Meta:
        verbose_name = _("处置时限")
        verbose_name_plural = _("处置时限")
        ordering = ["category"]
        constraints = [
            models.CheckConstraint(name="casedeadline_hours_positive", condition=Q(hours__gte=1)),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.hours} h"


class IncidentTransition(models.Model):
    """One entry of a case's timeline (办理记录): who did what when, from which status and level
    to which, with a note, an optional photo and the action's data (hours, department, rating).
    Written by layers.workflow only."""

    class Action(models.TextChoices):
        # In context: several name the same step as a status does (作废, 挂账 …), but English
        # says the action and the status differently.
        OPEN = "open", pgettext_lazy("case action", "受理")
        VERIFY = "verify", pgettext_lazy("case action", "立案")
        CANCEL = "cancel", pgettext_lazy("case action", "作废")
        DISPATCH = "dispatch", pgettext_lazy("case action", "派遣")
        START = "start", pgettext_lazy("case action", "开始处理")
        FEEDBACK = "feedback", pgettext_lazy("case action", "处理反馈")
        CLOSE = "close", pgettext_lazy("case action", "核查结案")
        SEND_BACK = "send_back", pgettext_lazy("case action", "核查不通过，重新派遣")
        RATE = "rate", pgettext_lazy("case action", "综合评价")
        EXTEND = "extend", pgettext_lazy("case action", "延期")
        BACKLOG = "backlog", pgettext_lazy("case action", "挂账")
        RESUME = "resume", pgettext_lazy("case action", "恢复处理")
        ESCALATE = "escalate", pgettext_lazy("case action", "上报上级")
        REPORT = "report", pgettext_lazy("case action", "重复上报")

    incident = models.ForeignKey(
        Incident, verbose_name=_("事件"), on_delete=models.CASCADE, related_name="transitions"
    )
    action = models.CharField(_("操作"), max_length=10, choices=Action.choices)
    # Blank only on the entry that opens the case.
    from_status = models.CharField(
        _("原状态"), max_length=12, choices=Incident.Status.choices, blank=True
    )
    to_status = models.CharField(_("新状态"), max_length=12, choices=Incident.Status.choices)
    from_level = models.CharField(
        _("原层级"), max_length=8, choices=GridUnit.Level.choices, blank=True
    )
    to_level = models.CharField(_("新层级"), max_length=8, choices=GridUnit.Level.choices)
    # NULL: done by the system (the overdue sweep).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incident_transitions",
    )
    username = models.CharField(_("操作人账号"), max_length=150, blank=True)
    at = models.DateTimeField(_("时间"), default=timezone.now)
    note = models.TextField(_("说明"), blank=True)
    # Not under a public URL: served by an authenticated API view.
    photo = models.FileField(_("照片"), upload_to="incidents/%Y/%m/", blank=True)
    data = models.JSONField(_("数据"), default=dict, blank=True)

    class Meta:
        verbose_name = _("办理记录")
        verbose_name_plural = _("办理记录")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="incidenttransition_timeline")]

    def __str__(self) -> str:
        return f"#{self.incident_id} {self.get_action_display()}"


def _new_token_key() -> str:
    return secrets.token_hex(20)


class PlatformToken(models.Model):
    """A read token for a city platform (城市大脑, 数字城管…): which published layers it may read
    through export, OGC API and tiles, how fast, until it is revoked. Not a user: it can do nothing
    else. Sent as `Authorization: Bearer <key>` or `?token=<key>`."""

    name = models.CharField(_("平台名称"), max_length=100)
    key = models.CharField(_("令牌"), max_length=40, unique=True, default=_new_token_key)
    layers = ArrayField(models.CharField(max_length=32), verbose_name=_("可读图层"), default=list)
    requests_per_minute = models.PositiveIntegerField(_("每分钟请求上限"), default=600)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("平台令牌")
        verbose_name_plural = _("平台令牌")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LayerPublication(models.Model):
    """Whether a published layer may be read without any login or token (off by default)."""

    layer = models.CharField(_("图层"), max_length=32, unique=True)
    anonymous = models.BooleanField(_("允许匿名访问"), default=False)

    class Meta:
        verbose_name = _("图层发布")
        verbose_name_plural = _("图层发布")
        ordering = ["layer"]

    def __str__(self) -> str:
        return self.layer


class ColorPolicy(models.Model):
    """A district's own visit schedule for one household colour (走访周期): how often and by whom
    a household of that colour is visited, where the district departs from the defaults of
    layers.visits (seed 004: red daily, orange weekly, yellow half-monthly, blue monthly, green
    quarterly). A colour without a row keeps the default."""

    class Period(models.TextChoices):
        # Calendar periods in Asia/Shanghai; each one owes a visit (rules: layers.visits).
        DAY = "day", _("每日")
        WEEK = "week", _("每周（周一至周日）")
        HALF_MONTH = "half_month", _("每半月（1–15日、16日至月底）")
        MONTH = "month", _("每月")
        QUARTER = "quarter", _("每季度")

    network = models.ForeignKey(
        GridUnit,
        verbose_name=_("网域（区）"),
        on_delete=models.CASCADE,
        related_name="color_policies",
        limit_choices_to={"level": GridUnit.Level.NETWORK},
    )
    color = models.CharField(_("五色分类"), max_length=6, choices=Household.Color.choices)
    period = models.CharField(_("走访周期"), max_length=10, choices=Period.choices)
    role = models.CharField(_("走访责任人"), max_length=20, choices=StaffMember.Role.choices)

    class Meta:
        verbose_name = _("走访周期设置")
        verbose_name_plural = _("走访周期设置")
        ordering = ["network", "color"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "color"], name="colorpolicy_one_per_district_and_color"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_color_display()}: {self.get_period_display()}"

    def clean(self) -> None:
        if self.network_id is not None and self.network.level != GridUnit.Level.NETWORK:
            raise ValidationError(
                {
                    "network": "走访周期按网域（区）设置 / a visit schedule is set per network (district)"
                }
            )


class Visit(models.Model):
    """A visit to a household (入户走访): when, by whom, what was found, an optional photo.
    Written by layers.visits, which also says when the next one is due."""

    household = models.ForeignKey(
        Household, verbose_name=_("住户"), on_delete=models.CASCADE, related_name="visits"
    )
    visited_at = models.DateTimeField(_("走访时间"), default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("走访人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="household_visits",
    )
    # Kept when the account is deleted: the visit record must still say who made it.
    username = models.CharField(_("走访人账号"), max_length=150, blank=True)
    staff_member = models.ForeignKey(
        StaffMember,
        verbose_name=_("网格人员"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visits",
    )
    note = models.TextField(_("走访情况"), blank=True)
    # Not under a public URL: served by an authenticated API view.
    photo = models.FileField(_("照片"), upload_to="visits/%Y/%m/", blank=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("走访记录")
        verbose_name_plural = _("走访记录")
        ordering = ["-visited_at", "-id"]
        # The latest visit of each household is read backwards off this index (layers.visits).
        indexes = [models.Index(fields=["household", "visited_at"], name="visit_household_time")]

    def __str__(self) -> str:
        return f"#{self.household_id} {timezone.localtime(self.visited_at):%Y-%m-%d %H:%M}"


class ColorChange(models.Model):
    """A change of a household's colour class (五色调整): from, to, why, who, when. Written by
    layers.visits, which refuses a change without a reason."""

    household = models.ForeignKey(
        Household, verbose_name=_("住户"), on_delete=models.CASCADE, related_name="color_changes"
    )
    from_color = models.CharField(_("原分类"), max_length=6, choices=Household.Color.choices)
    to_color = models.CharField(_("新分类"), max_length=6, choices=Household.Color.choices)
    reason = models.TextField(_("调整理由"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="household_color_changes",
    )
    username = models.CharField(_("操作人账号"), max_length=150, blank=True)
    at = models.DateTimeField(_("时间"), default=timezone.now)

    class Meta:
        verbose_name = _("五色调整记录")
        verbose_name_plural = _("五色调整记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["household", "at"], name="colorchange_household_time")]
        constraints = [
            models.CheckConstraint(
                name="colorchange_changes_the_color_for_a_reason",
                condition=~Q(from_color=F("to_color")) & ~Q(reason=""),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.household_id} {self.from_color} → {self.to_color}"
