"""Handling time per case category (处置时限): a CaseDeadline row if the centre set one in the
admin, else the default below."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from layers.models import CaseDeadline, Incident

C = Incident.Category

# Hours from dispatch to feedback, after the usual practice of digital urban management
# (CJ/T 214 centres grade urgency into hours for dangers and days for the rest): what endangers
# people at once gets hours; street-level nuisances a day; what needs another body's work or a
# mediation several days. A district changes them in the admin (CaseDeadline).
DEFAULT_HOURS: dict[str, int] = {
    C.EMERGENCY: 2,  # 突发事件
    C.SAFETY_HAZARD: 24,  # 安全隐患
    C.STREET_ORDER: 24,  # 街面秩序
    C.NOISE: 24,  # 噪音扰民
    C.PARKING: 24,  # 停车
    C.ENVIRONMENT: 48,  # 市容环境
    C.ADVERTISING: 72,  # 宣传广告
    C.CONSTRUCTION: 72,  # 施工管理
    C.DISPUTE: 72,  # 矛盾纠纷
    C.EXTENDED: 72,  # 扩展事件
    C.PROPERTY_DISPUTE: 120,  # 物业纠纷
}


def hours_for(category: str) -> int:
    """The handling time of a category in hours: the admin's setting, else the default."""
    configured = (
        CaseDeadline.objects.filter(category=category).values_list("hours", flat=True).first()
    )
    return configured if configured is not None else DEFAULT_HOURS[category]


def deadline_for(category: str, now: dt.datetime | None = None) -> dt.datetime:
    """When a case of `category` dispatched at `now` must be handled."""
    return (now or timezone.now()) + dt.timedelta(hours=hours_for(category))
