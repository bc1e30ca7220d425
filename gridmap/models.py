"""The four-level grid (网域 > 网段 > 网节 > 网格), its staff, and the abstract base of everything
that is assigned to a grid."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridmap import codes
from gridmap.managers import GridUnitManager


class GridUnit(models.Model):
    """One unit of the four-level grid; one table for all levels."""

    class Level(models.TextChoices):
        NETWORK = "network", _("网域 network")  # a district (区/县级市)
        SEGMENT = "segment", _("网段 segment")  # a street office (街道)
        NODE = "node", _("网节 node")  # a community (社区)
        GRID = "grid", _("网格 grid")  # a 片区 of a few hundred households

    level = models.CharField(_("层级"), max_length=8, choices=Level.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    code = models.CharField(_("编码"), max_length=15, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    geom = models.MultiPolygonField(_("范围"), srid=4326)
    target_households = models.PositiveIntegerField(
        _("目标户数"),
        null=True,
        blank=True,
        help_text=_("每个网格的目标户数；为空时沿用上级或系统默认值（250）"),
    )
    version = models.PositiveIntegerField(_("版本"), default=1)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = GridUnitManager()

    class Meta:
        verbose_name = _("网格单元")
        verbose_name_plural = _("网格单元")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                name="gridunit_code_digits_by_level",
                condition=(
                    Q(level="network", code__regex=r"^[0-9]{6}$")
                    | Q(level="segment", code__regex=r"^[0-9]{9}$")
                    | Q(level="node", code__regex=r"^[0-9]{12}$")
                    | Q(level="grid", code__regex=r"^[0-9]{15}$")
                ),
            ),
            models.CheckConstraint(
                name="gridunit_only_network_has_no_parent",
                condition=Q(level="network", parent__isnull=True)
                | (~Q(level="network") & Q(parent__isnull=False)),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        parent_level = codes.PARENT_LEVEL.get(self.level)
        if self.parent_id is not None and self.parent.level != parent_level:
            raise ValidationError(
                {
                    "parent": f"{self.get_level_display()} 的上级必须是 {parent_level} / "
                    f"the parent of a {self.level} must be a {parent_level}"
                }
            )
        try:
            codes.validate_code(self.code, self.level, self.parent.code if self.parent_id else None)
        except codes.CodeError as exc:
            raise ValidationError({"code": str(exc)}) from exc
        if self.geom is not None and not self.geom.valid:
            raise ValidationError(
                {
                    "geom": f"几何无效：{self.geom.valid_reason} / invalid geometry: {self.geom.valid_reason}"
                }
            )

    @property
    def effective_target(self) -> int:
        """Target households per grid: this unit's, else the nearest ancestor's, else the default."""
        unit: GridUnit | None = self
        while unit is not None:
            if unit.target_households:
                return unit.target_households
            unit = unit.parent
        return settings.GRIDMAP_TARGET_HOUSEHOLDS


class StaffMember(models.Model):
    """A person responsible for a unit: "1 grid leader + 1 grid instructor + N part-time members"."""

    class Role(models.TextChoices):
        GRID_LEADER = "grid_leader", _("网格长")
        GRID_INSTRUCTOR = "grid_instructor", _("网格指导员")
        FULL_TIME_WORKER = "full_time_worker", _("专职网格员")
        PART_TIME_MEMBER = "part_time_member", _("兼职网格员")
        COMMUNITY_LEAD = "community_lead", _("社区负责人")

    unit = models.ForeignKey(
        GridUnit, verbose_name=_("所属单元"), on_delete=models.CASCADE, related_name="staff"
    )
    role = models.CharField(_("职责"), max_length=20, choices=Role.choices)
    name = models.CharField(_("姓名"), max_length=50)
    phone = models.CharField(_("电话"), max_length=20, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("系统账号"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff_posts",
    )

    class Meta:
        verbose_name = _("网格人员")
        verbose_name_plural = _("网格人员")
        ordering = ["unit__code", "role", "name"]

    def __str__(self) -> str:
        return f"{self.name}（{self.get_role_display()}）"


class GridAssigned(models.Model):
    """Abstract base of a layer whose rows carry the grid they lie in.

    The assignment service finds every concrete subclass and assigns it set-based in SQL.
    A subclass names the point field it is assigned by (`grid_anchor`) and, optionally, a
    foreign key whose grid it takes when that point is empty (`grid_follows`), and optionally a
    grid field that takes the first grid assigned and keeps it afterwards (`grid_keep_first`).
    """

    grid = models.ForeignKey(
        GridUnit,
        verbose_name=_("所在网格"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="%(class)ss",
        limit_choices_to={"level": GridUnit.Level.GRID},
        help_text=_("由空间分配自动维护；为空表示不在任何网格内"),
    )

    grid_anchor: ClassVar[str]
    grid_follows: ClassVar[str | None] = None
    grid_keep_first: ClassVar[str | None] = None
    # The layer whose row count is a grid's load (households), shown when an edit is previewed.
    grid_counts_as_load: ClassVar[bool] = False
    # Which rows an edit's report counts when they change grid (SQL over alias t; e.g. open
    # incidents only). None: all rows.
    grid_report_filter: ClassVar[str | None] = None

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        """Save, then assign this row (and the rows that follow it) in the same transaction."""
        from gridmap.assignment import assign_saved

        with transaction.atomic():
            super().save(*args, **kwargs)
            assign_saved(self)


class UnitEdit(models.Model):
    """One committed edit of the grid (边界调整记录): who, when, what, and what it moved.

    The geometries before and after are the `UnitVersion` rows the edit wrote (`versions`).
    """

    class Operation(models.TextChoices):
        RESHAPE = "reshape", _("调整边界")
        SPLIT = "split", _("拆分")
        MERGE = "merge", _("合并")
        TRANSFER = "transfer", _("划转区域")
        RESTORE = "restore", _("恢复版本")
        UNDO = "undo", _("撤销")

    operation = models.CharField(_("操作"), max_length=10, choices=Operation.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="grid_edits",
    )
    username = models.CharField(_("操作人账号"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    note = models.TextField(_("说明"), blank=True)
    unit_ids = ArrayField(models.IntegerField(), verbose_name=_("涉及单元"), default=list)
    changes = models.JSONField(_("单元变化"), default=list)
    reassignment = models.JSONField(_("重新分配"), default=dict)
    load = models.JSONField(_("网格户数"), default=list)
    staff_moved = models.JSONField(_("人员调整"), default=list)
    undoes = models.OneToOneField(
        "self",
        verbose_name=_("撤销的编辑"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="undone_by",
    )

    class Meta:
        verbose_name = _("边界调整记录")
        verbose_name_plural = _("边界调整记录")
        ordering = ["-created_at", "-id"]
        indexes = [GinIndex(fields=["unit_ids"], name="unitedit_unit_ids_gin")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_operation_display()}"


class UnitVersion(models.Model):
    """A unit as it was between `valid_from` and `valid_to` (NULL: still current).

    Written by a database trigger on every insert, change and delete of a unit, whoever makes
    it (edit service, admin, loader), so "which grid was this point in on date D" always has an
    answer. Not a foreign key to the unit: the history outlives units merged away.
    """

    unit_id = models.IntegerField(_("单元ID"), db_index=True)
    version = models.PositiveIntegerField(_("版本"))
    level = models.CharField(_("层级"), max_length=8, choices=GridUnit.Level.choices)
    code = models.CharField(_("编码"), max_length=15, db_index=True)
    name = models.CharField(_("名称"), max_length=100)
    parent_id = models.IntegerField(_("上级ID"), null=True, blank=True)
    geom = models.MultiPolygonField(_("范围"), srid=4326)
    valid_from = models.DateTimeField(_("生效时间"))
    valid_to = models.DateTimeField(_("失效时间"), null=True, blank=True)
    edit = models.ForeignKey(
        UnitEdit,
        verbose_name=_("编辑"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="versions",
    )

    class Meta:
        verbose_name = _("单元历史版本")
        verbose_name_plural = _("单元历史版本")
        ordering = ["unit_id", "valid_from", "id"]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"


class AuditEntry(models.Model):
    """One entry of the audit log (审计日志): who read which private fields of which rows, or
    created, changed or deleted them; when, and through what. Written by gridmap.audit, one entry
    per request for a set of rows; it names fields, never their values."""

    class Action(models.TextChoices):
        READ_PRIVATE = "read_private", _("读取个人信息")
        CREATE = "create", _("新建")
        CHANGE = "change", _("修改")
        DELETE = "delete", _("删除")

    at = models.DateTimeField(_("时间"), default=timezone.now, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    # Kept when the account is deleted: the log must still say who it was.
    username = models.CharField(_("用户账号"), max_length=150, blank=True)
    action = models.CharField(_("操作"), max_length=12, choices=Action.choices)
    model = models.CharField(_("数据表"), max_length=100, help_text=_("如 layers.household"))
    object_ids = ArrayField(models.BigIntegerField(), verbose_name=_("记录ID"), default=list)
    count = models.PositiveIntegerField(_("记录数"), default=0)
    fields = ArrayField(models.CharField(max_length=100), verbose_name=_("字段"), default=list)
    via = models.CharField(
        _("途径"), max_length=300, help_text=_("如 api:/api/dispatch/、admin:…、import")
    )
    remote_addr = models.GenericIPAddressField(_("来源地址"), null=True, blank=True)
    request_id = models.CharField(_("请求ID"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["at"], name="auditentry_at"),
            # "Who read or changed household 17?": model = … AND object_ids @> '{17}'.
            models.Index(fields=["model", "at"], name="auditentry_model_at"),
            GinIndex(fields=["object_ids"], name="auditentry_object_ids_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.username or '-'} {self.action} {self.model} ×{self.count}"
