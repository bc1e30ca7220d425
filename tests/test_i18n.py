"""Specification of the English translation: Chinese is the source language, English comes from
locale/en/LC_MESSAGES/django.po (compiled to django.mo), and every message in it is translated."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from gridmap.models import GridUnit, StaffMember
from layers.models import Building, Camera, Facility, Household, Incident, Road

PO_FILE = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")

# Model → (English, Chinese) verbose name.
MODEL_NAMES = {
    GridUnit: ("grid unit", "网格单元"),
    StaffMember: ("grid staff", "网格人员"),
    Building: ("building", "建筑"),
    Household: ("household", "住户"),
    Camera: ("camera", "摄像头"),
    Facility: ("facility", "服务设施"),
    Road: ("road", "道路"),
    Incident: ("incident", "事件"),
}
APP_NAMES = {"gridmap": ("Four-level grid", "四级网格"), "layers": ("Layer features", "图层要素")}


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file, header and obsolete (#~) entries excluded.

    Each is {"msgid": str, "msgctxt": str | None, "msgstr": [str, ...] (one per plural form),
    "flags": set}.
    """
    entries: list[dict] = []
    entry: dict | None = None
    key = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        # A comment or msgctxt/msgid after a msgstr starts the next entry.
        starts_entry = line.startswith("#") or re.match(r"^(msgctxt|msgid) ", line)
        if entry is None or (starts_entry and key.startswith("msgstr")):
            entry, key = {"msgid": "", "msgctxt": None, "msgstr": [], "flags": set()}, ""
            entries.append(entry)
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif match := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) "(.*)"$', line):
            key, text = match.groups()
            if key == "msgid":
                entry["msgid"] = text
            elif key == "msgctxt":
                entry["msgctxt"] = text
            elif key.startswith("msgstr"):
                entry["msgstr"].append(text)
        else:
            assert line.startswith('"') and line.endswith('"'), f"unexpected line: {raw!r}"
            if key == "msgid":
                entry["msgid"] += line[1:-1]
            elif key.startswith("msgstr"):
                entry["msgstr"][-1] += line[1:-1]
    return [e for e in entries if e["msgid"]]


def unescape(text: str) -> str:
    """A .po string's C escapes (\\n, \\", \\\\) resolved, as gettext returns it."""
    return ast.literal_eval(f'"{text}"')


def test_po_file_is_fully_translated_and_compiled() -> None:
    entries = po_entries(PO_FILE)
    assert len(entries) > 100
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    untranslated = [e["msgid"] for e in entries if not e["msgstr"] or not all(e["msgstr"])]
    assert fuzzy == []
    assert untranslated == []
    # No translation still carries Chinese characters.
    still_chinese = [
        e["msgid"] for e in entries if re.search(r"[\u4e00-\u9fff]", "".join(e["msgstr"]))
    ]
    assert still_chinese == []
    assert MO_FILE.exists()
    # The committed .mo holds exactly what the .po says (else: run compilemessages).
    with MO_FILE.open("rb") as mo:
        catalog = gettext.GNUTranslations(mo)
    stale = [
        e["msgid"]
        for e in entries
        if (
            catalog.pgettext(unescape(e["msgctxt"]), unescape(e["msgid"]))
            if e["msgctxt"] is not None
            else catalog.gettext(unescape(e["msgid"]))
        )
        != unescape(e["msgstr"][0])
    ]
    assert stale == [], "django.mo is out of date: run compilemessages -l en"


def test_model_and_app_names_follow_the_active_language() -> None:
    for model, (english, chinese) in MODEL_NAMES.items():
        with translation.override("en"):
            assert str(model._meta.verbose_name) == english
            assert str(model._meta.verbose_name_plural) == english
        with translation.override("zh-hans"):
            assert str(model._meta.verbose_name) == chinese
    from django.apps import apps

    for label, (english, chinese) in APP_NAMES.items():
        config = apps.get_app_config(label)
        with translation.override("en"):
            assert str(config.verbose_name) == english
        with translation.override("zh-hans"):
            assert str(config.verbose_name) == chinese


def test_field_names_and_help_texts_follow_the_active_language() -> None:
    level = GridUnit._meta.get_field("level")
    target = GridUnit._meta.get_field("target_households")
    with translation.override("en"):
        assert str(level.verbose_name) == "level"
        assert "households per grid" in str(target.help_text)
    with translation.override("zh-hans"):
        assert str(level.verbose_name) == "层级"
        assert str(target.help_text).startswith("每个网格的目标户数")


def test_choice_labels_follow_the_active_language() -> None:
    cases = [
        (GridUnit.Level.NETWORK, "Network", "网域 network"),
        (GridUnit.Level.GRID, "Grid", "网格 grid"),
        (StaffMember.Role.GRID_LEADER, "Grid leader", "网格长"),
        (StaffMember.Role.GRID_INSTRUCTOR, "Grid instructor", "网格指导员"),
        (StaffMember.Role.FULL_TIME_WORKER, "Full-time grid worker", "专职网格员"),
        (StaffMember.Role.PART_TIME_MEMBER, "Part-time grid member", "兼职网格员"),
        (StaffMember.Role.COMMUNITY_LEAD, "Community lead", "社区负责人"),
        (Household.Color.RED, "Red (class 1)", "红色（一类）"),
        (Camera.Status.FAULT, "Faulty", "故障"),
        (Incident.Status.RECEIVED, "Received", "接单受理"),
    ]
    for member, english, chinese in cases:
        with translation.override("en"):
            assert str(member.label) == english
        with translation.override("zh-hans"):
            assert str(member.label) == chinese
    with translation.override("en"):
        labels = [str(label) for _, label in GridUnit.Level.choices]
        assert labels == ["Network", "Segment", "Node", "Grid"]


@pytest.mark.django_db
def test_admin_index_in_english(admin_client) -> None:
    response = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "en"
    html = response.content.decode()
    for english, _chinese in MODEL_NAMES.values():
        assert f">{english.capitalize()}<" in html, english
    for english, _chinese in APP_NAMES.values():
        assert english in html
    for _english, chinese in MODEL_NAMES.values():
        assert f">{chinese}<" not in html, chinese


@pytest.mark.django_db
def test_admin_index_in_chinese(admin_client) -> None:
    response = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    for _english, chinese in MODEL_NAMES.values():
        assert f">{chinese}<" in html, chinese
    for _english, chinese in APP_NAMES.values():
        assert chinese in html
    for english, _chinese in MODEL_NAMES.values():
        assert f">{english.capitalize()}<" not in html, english


@pytest.mark.django_db
def test_home_page_follows_accept_language(client) -> None:
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Four-level grid" in english
    chinese = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "四级网格" in chinese
