"""GridMap settings, configured from the environment (12-factor).

DATABASE_URL   postgis://user:pass@host:port/name (default: the project-local cluster that
               `make` starts, socket in .pg/run, port 54329)
SECRET_KEY     (default: a random key kept in .secret_key, made on first run)
DEBUG          "1" for development
ALLOWED_HOSTS  comma-separated
GRIDMAP_TILE_URL  optional basemap tile URL template (e.g. Tianditu with its key); none by default
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", default=False)


def _local_secret_key() -> str:
    """A key kept in .secret_key (git-ignored), made on first use, for installs without SECRET_KEY."""
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _local_secret_key()
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]

LOCAL_PG_SOCKET = os.environ.get("GRIDMAP_PG_SOCKET", str(BASE_DIR / ".pg" / "run"))
LOCAL_PG_PORT = os.environ.get("GRIDMAP_PG_PORT", "54329")
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get(
            "DATABASE_URL",
            f"postgis://postgres@/gridmap?host={LOCAL_PG_SOCKET}&port={LOCAL_PG_PORT}",
        ),
        engine="django.contrib.gis.db.backends.postgis",
        conn_max_age=60,
    )
}

# Lets parallel test runs (CI shards, several developers on one server) use distinct test DBs.
if os.environ.get("GRIDMAP_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["GRIDMAP_TEST_DB_NAME"]}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "gridmap",
    "layers",
]

MIDDLEWARE = [
    "project.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

AUTHENTICATION_BACKENDS = ["gridmap.auth_backends.CachedPermissionsBackend"]
# Per-process cache (permissions for a minute); point CACHES at a shared cache behind a balancer.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Chinese first, English second.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploads (case photos). Not served under MEDIA_URL: photos carry what residents reported, so
# an authenticated API view streams them (/api/incidents/{id}/photos/{transition_id}/).
MEDIA_ROOT = Path(os.environ.get("GRIDMAP_MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header turns "not logged in" into 401, not 403.
        "gridmap.api.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["gridmap.api.permissions.RoleModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "gridmap.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "GridMap API",
    "DESCRIPTION": "网格化管理空间服务 / spatial grid management for community governance",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

SILENCED_SYSTEM_CHECKS = [
    # gis.W001 warns that GDAL < 3.9 will not be supported by the next Django. Debian 12 ships
    # GDAL 3.6.2 and Django 5.2 LTS supports it until 2028; we stay on both deliberately.
    "gis.W001",
]

# Target households per grid (seed 002: one full-time grid worker per ~250 households).
GRIDMAP_TARGET_HOUSEHOLDS = int(os.environ.get("GRIDMAP_TARGET_HOUSEHOLDS", "250"))
# Where an empty admin map opens (lon, lat WGS84) and its zoom.
GRIDMAP_DEFAULT_CENTER = (98.29, 39.80)
GRIDMAP_DEFAULT_ZOOM = 14
GRIDMAP_TILE_URL = os.environ.get("GRIDMAP_TILE_URL", "")
GRIDMAP_TILE_ATTRIBUTION = os.environ.get("GRIDMAP_TILE_ATTRIBUTION", "")
# 15-minute life circle (GB 50180-2018): walking speed in m/s (1.1 ≈ 1,000 m in 15 min), and how
# far from the street a building, household or facility may be and still use it, in metres.
GRIDMAP_WALK_SPEED_MPS = float(os.environ.get("GRIDMAP_WALK_SPEED_MPS", "1.1"))
GRIDMAP_WALK_ACCESS_M = float(os.environ.get("GRIDMAP_WALK_ACCESS_M", "50"))
# Requests a minute per client address to layers switched to anonymous access (layers.exchange).
GRIDMAP_ANONYMOUS_REQUESTS_PER_MINUTE = int(
    os.environ.get("GRIDMAP_ANONYMOUS_REQUESTS_PER_MINUTE", "120")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
