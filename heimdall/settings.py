"""Heimdall settings. Every value comes from the environment (see .env.example).

With nothing configured Heimdall runs embedded: SQLite under var/, an
in-memory channel layer, a local-memory cache and in-process task workers.
DATABASE_URL and REDIS_URL switch it to PostgreSQL and Redis.
"""

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from heimdall.env import (
    CENTURY_DAYS,
    CENTURY_MINUTES,
    CENTURY_SECONDS,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
)
from heimdall.version import __version__

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("HEIMDALL_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    """A per-install random key kept under var/, so embedded mode needs no setup."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env_str("DJANGO_SECRET_KEY") or _embedded_secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Browser pages served from other origins (a dashboard built on @heimdall/sdk) may call
# the API when their origin is listed ("https://dash.example.org,..."; default none).
# Credentials travel in headers (Bearer, X-API-Key), never cookies: no
# CORS_ALLOW_CREDENTIALS, so a listed page cannot ride an operator's console session.
CORS_ALLOWED_ORIGINS = env_list("HEIMDALL_CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_HEADERS = (
    "accept", "authorization", "content-type", "x-api-key", "x-request-id",
)  # fmt: skip
CORS_EXPOSE_HEADERS = (
    "retry-after", "x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining",
    "x-ratelimit-reset", "content-disposition", "server-timing",
)  # fmt: skip
CORS_PREFLIGHT_MAX_AGE = 3600

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_q",
    "channels",
    "apps.core",
    "apps.accounts",
    "apps.stations",
    "apps.anomalies",
    "apps.ml",
    "apps.signals",
    "apps.collectors",
    "apps.recordings",
    "apps.constellations",
    "apps.training",
    "apps.dashboard",
]

MIDDLEWARE = [
    # First: everything after it sees the client address the trust rule allows.
    "apps.core.proxies.ClientAddressMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    # Before anything that may answer early (429, 413): browsers read those only with
    # CORS headers on them.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.RateLimitMiddleware",
    "apps.accounts.login_limits.LoginLimitMiddleware",
    "apps.core.middleware.RequestSizeLimitMiddleware",
    "apps.core.middleware.StorableQueryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "heimdall.urls"
# Paths work with and without a trailing slash through the URL patterns
# themselves; a redirect would lose the body of a POST.
APPEND_SLASH = False

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
            ],
        },
    },
]

WSGI_APPLICATION = "heimdall.wsgi.application"
ASGI_APPLICATION = "heimdall.asgi.application"

# --- database -------------------------------------------------------------
# Which Procfile process this is (web, worker, trainer, collector; anything
# else is a one-off command): it sizes the connection pool below.
HEIMDALL_PROCESS = env_str("HEIMDALL_PROCESS", "command")
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'heimdall.sqlite3'}",
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (web, in-process workers, collectors) and processes
    # (`manage.py create_user`) share one file. WAL: readers never block the
    # writer. IMMEDIATE: a write transaction takes the write lock at BEGIN, so
    # it waits (busy timeout) instead of failing at once with "database is
    # locked" when it would have to upgrade a read lock another writer beat it
    # to. What still times out answers 503 with Retry-After (apps/core/outages.py).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("HEIMDALL_SQLITE_BUSY_TIMEOUT", 30, minimum=0),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif HEIMDALL_PROCESS != "command":
    # A bounded psycopg pool per long-running process (docs/running.md has the
    # arithmetic for max_connections). Connections go back to the pool at the
    # end of each request/task (CONN_MAX_AGE 0); a request that waits longer
    # than the timeout for one answers 503 with Retry-After (apps/core/outages.py).
    # One-off commands (migrate, create_user, shell, tests) open one plain
    # connection and close it: a pool would only hide a connection error
    # behind its timeout.
    _POOL_MAX_DEFAULTS = {"web": 10, "worker": 2, "trainer": 2, "collector": 4}
    _pool_max = env_int(
        "HEIMDALL_DB_POOL_MAX_SIZE", _POOL_MAX_DEFAULTS.get(HEIMDALL_PROCESS, 2), minimum=1
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env_int("HEIMDALL_DB_POOL_MIN_SIZE", 1, minimum=0), _pool_max),
        "max_size": _pool_max,
        # Seconds a request waits for a free connection before the 503.
        "timeout": float(env_int("HEIMDALL_DB_POOL_TIMEOUT", 10, minimum=1)),
        # Connections above min_size close after this many idle seconds.
        "max_idle": float(env_int("HEIMDALL_DB_POOL_MAX_IDLE", 60, minimum=1)),
        "max_lifetime": 1800.0,
        # While the server is down, keep trying to refill the pool (the process
        # lives on; requests meanwhile answer 503).
        "reconnect_timeout": 3600.0 * 24 * 365,
        "name": f"heimdall-{HEIMDALL_PROCESS}",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Who holds a connection, in pg_stat_activity (docs/running.md, bench/load.py).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "application_name", f"heimdall-{HEIMDALL_PROCESS}"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: channel layer and cache ----------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Pub/sub: a group message crosses Redis once per daphne process and is
    # fanned out to that process's consumers in memory (docs/performance.md:
    # the list-based layer copies it once per member and halves the fan-out).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("HEIMDALL_CHANNEL_PREFIX", "asgi")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("HEIMDALL_CACHE_PREFIX", "heimdall"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- background work --------------------------------------------------------
# "django_q": tasks go to django-q2 clusters (manage.py qcluster, see Procfile).
# "inprocess": worker threads inside the web process (embedded mode), so events
# reach the in-memory channel layer.
HEIMDALL_TASK_BACKEND = env_str(
    "HEIMDALL_TASK_BACKEND", "django_q" if env_str("DATABASE_URL") else "inprocess"
)
HEIMDALL_INPROCESS_WORKERS = env_int("HEIMDALL_INPROCESS_WORKERS", 2, minimum=1)
Q_CLUSTER = {
    "name": "heimdall",
    "orm": "default",  # the broker is the database: delivery with receipts
    "workers": env_int("HEIMDALL_Q_WORKERS", 2, minimum=1),
    "timeout": env_int("HEIMDALL_Q_TIMEOUT", 600, minimum=1),
    "retry": env_int("HEIMDALL_Q_TIMEOUT", 600, minimum=1) + 60,  # longer than timeout
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 1000,
    "cache": "default",
    "label": "Task queue",
    # Training runs on its own cluster: `Q_CLUSTER_NAME=training manage.py qcluster`,
    # one worker per device, long timeout.
    "ALT_CLUSTERS": {
        "training": {
            "workers": env_int("HEIMDALL_TRAINING_WORKERS", 1, minimum=1),
            "timeout": env_int("HEIMDALL_TRAINING_TIMEOUT", 86_400, minimum=1),
            "retry": env_int("HEIMDALL_TRAINING_TIMEOUT", 86_400, minimum=1) + 600,
        }
    },
}

# --- auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: counts every login attempt, whatever the login page (API, admin,
    # operator pages), against the same limits (docs/api.md "Login limits").
    "apps.accounts.login_limits.LoginLimitBackend",
    "apps.accounts.backends.UsernameOrEmailBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The console's log-in page (apps.dashboard); Django admin keeps its own at /admin/login/.
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
GUARDIAN_RAISE_403 = True
ANONYMOUS_USER_NAME = None  # no guardian "AnonymousUser" row: anonymous users get nothing

ACCESS_TOKEN_LIFETIME_S = env_int(
    "HEIMDALL_ACCESS_TOKEN_LIFETIME", 3600, minimum=1, maximum=CENTURY_SECONDS
)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=ACCESS_TOKEN_LIFETIME_S),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env_int(
            "HEIMDALL_REFRESH_TOKEN_LIFETIME", 7 * 86400, minimum=1, maximum=CENTURY_SECONDS
        )
    ),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env_str("HEIMDALL_JWT_SIGNING_KEY") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first: its WWW-Authenticate header makes DRF answer 401, not 403.
        "apps.accounts.authentication.HeimdallJWTAuthentication",
        "apps.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.permissions.RoleReadWrite"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.FiniteJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # The per-client limit is RateLimitMiddleware's (it must also cover 401s
    # and unknown paths); views add their own throttles (login) on top.
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("HEIMDALL_RATE_LIMIT_USER", "1200/min"),
        "anon": env_rate("HEIMDALL_RATE_LIMIT_ANON", "120/min"),
        "api_key": env_rate("HEIMDALL_RATE_LIMIT_API_KEY", "1200/min"),
        "login_username": env_rate("HEIMDALL_RATE_LIMIT_LOGIN_USERNAME", "10/min"),
        "login_address": env_rate("HEIMDALL_RATE_LIMIT_LOGIN_ADDRESS", "30/min"),
    },
    # The client address is REMOTE_ADDR, which apps.core.proxies sets from
    # HEIMDALL_TRUSTED_PROXIES; DRF must not read X-Forwarded-For itself.
    "NUM_PROXIES": 0,
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.HeimdallAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": False,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Heimdall SDR API",
    "DESCRIPTION": "Spectrum monitoring through a network of WebSDR receivers.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["apps.core.schema.strip_optional_slash"],
    "ENUM_NAME_OVERRIDES": {
        "StationStatusEnum": "apps.stations.models.Station.Status",
        "HealthStatusEnum": ["healthy", "degraded", "unhealthy"],
        "SharePermissionEnum": "apps.constellations.models.ConstellationShare.Permission",
        "MLModelStatusEnum": "apps.ml.models.MLModel.Status",
        "DatasetStatusEnum": "apps.training.models.SyntheticDataset.Status",
        "TrainingJobStatusEnum": "apps.training.models.TrainingJob.Status",
        "LocalizationMethodEnum": "apps.constellations.models.Localization.Method",
        "LocalizationTriggerEnum": "apps.constellations.models.Localization.Trigger",
        "LocalizeMethodEnum": ["auto", "model", "wls"],
        "MLModelTypeEnum": "apps.ml.models.MLModel.Type",
    },
}
# Largest request body accepted anywhere (10,000 detections fit easily).
HEIMDALL_MAX_REQUEST_BYTES = env_int("HEIMDALL_MAX_REQUEST_BYTES", 16 * 1024 * 1024, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = HEIMDALL_MAX_REQUEST_BYTES
# SigMF recording uploads (POST /api/v1/recordings) stream to disk: their own limit.
HEIMDALL_RECORDING_MAX_BYTES = env_int("HEIMDALL_RECORDING_MAX_BYTES", 4 * 1024**3, minimum=1)

# --- stations and collectors --------------------------------------------------
# One StationCheck (uptime, response time) per station per interval.
HEIMDALL_STATION_CHECK_INTERVAL = env_int("HEIMDALL_STATION_CHECK_INTERVAL", 60, minimum=0)
# Embedded mode runs the collectors inside the web process (no `collect` process).
HEIMDALL_EMBEDDED_COLLECTORS = env_bool(
    "HEIMDALL_EMBEDDED_COLLECTORS", HEIMDALL_TASK_BACKEND == "inprocess"
)
# A station not heard from for this long counts as stale in /health.
HEIMDALL_COLLECTOR_STALE_SECONDS = env_int(
    "HEIMDALL_COLLECTOR_STALE_SECONDS", 300, minimum=1, maximum=CENTURY_SECONDS
)

# --- detections and anomalies ----------------------------------------------------
# Detections scoring at or above this are anomalous (when the client does not say).
HEIMDALL_ANOMALY_THRESHOLD = env_float(
    "HEIMDALL_ANOMALY_THRESHOLD", 0.5, minimum=0.0, maximum=1.0, exclusive_minimum=True
)
# An open anomaly event (one station and channel) closes after this long without a
# new anomalous detection; the next one opens a new event.
HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS = env_int(
    "HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS", 600, minimum=1, maximum=CENTURY_SECONDS
)
# The context anomaly model is retrained from stored detections this often (minutes;
# 0: never) on the last HEIMDALL_ANOMALY_HISTORY_DAYS days, and activated only when it
# beats the active model on the held-out days.
HEIMDALL_ANOMALY_RETRAIN_MINUTES = env_int(
    "HEIMDALL_ANOMALY_RETRAIN_MINUTES", 24 * 60, minimum=0, maximum=CENTURY_MINUTES
)
HEIMDALL_ANOMALY_HISTORY_DAYS = env_int(
    "HEIMDALL_ANOMALY_HISTORY_DAYS", 14, minimum=2, maximum=CENTURY_DAYS
)
# Whole days of detections older than this are dropped (partitions / chunks).
HEIMDALL_DETECTION_RETENTION_DAYS = env_int(
    "HEIMDALL_DETECTION_RETENTION_DAYS", 90, minimum=1, maximum=CENTURY_DAYS
)
# POST /signals/analyze: at most this many samples (10 s of 48 kHz audio) → else 413.
HEIMDALL_ANALYZE_MAX_SAMPLES = env_int("HEIMDALL_ANALYZE_MAX_SAMPLES", 480_000, minimum=1)
# WebSockets (apps/core/consumers.py): frames a client may fall behind by
# before the oldest are dropped, in number and in bytes; seconds a client may
# read nothing while frames wait before it is closed (4408); sockets per user
# (0: no cap; else 4429); seconds between re-checks of credentials and access;
# the size and rate of incoming messages.
HEIMDALL_WS_QUEUE_LIMIT = env_int("HEIMDALL_WS_QUEUE_LIMIT", 1000, minimum=1)
HEIMDALL_WS_QUEUE_BYTES = env_int("HEIMDALL_WS_QUEUE_BYTES", 1024 * 1024, minimum=1)
HEIMDALL_WS_STALL_SECONDS = env_int("HEIMDALL_WS_STALL_SECONDS", 30, minimum=1)
HEIMDALL_WS_MAX_SOCKETS_PER_USER = env_int("HEIMDALL_WS_MAX_SOCKETS_PER_USER", 20, minimum=0)
HEIMDALL_WS_RECHECK_SECONDS = env_int("HEIMDALL_WS_RECHECK_SECONDS", 60, minimum=1)
HEIMDALL_WS_MAX_MESSAGE_BYTES = env_int("HEIMDALL_WS_MAX_MESSAGE_BYTES", 64 * 1024, minimum=1)
HEIMDALL_WS_MESSAGES_PER_SECOND = env_int("HEIMDALL_WS_MESSAGES_PER_SECOND", 20, minimum=1)
# API keys: how many unrevoked keys one user may hold.
HEIMDALL_API_KEYS_PER_USER = env_int("HEIMDALL_API_KEYS_PER_USER", 50, minimum=1)
# Partitions created ahead of time by the scheduled maintenance task.
HEIMDALL_PARTITIONS_AHEAD_DAYS = env_int(
    "HEIMDALL_PARTITIONS_AHEAD_DAYS", 7, minimum=0, maximum=366
)

# --- localization (docs/localization.md) ----------------------------------------------
# Localize co-detections of ≥ 3 member stations of a constellation automatically.
HEIMDALL_AUTO_LOCALIZE = env_bool("HEIMDALL_AUTO_LOCALIZE", True)
# Co-detections of one transmission fall within this many seconds of each other.
HEIMDALL_AUTO_LOCALIZE_WINDOW_S = env_float(
    "HEIMDALL_AUTO_LOCALIZE_WINDOW_S", 2.0, minimum=0, exclusive_minimum=True, maximum=3600
)
# Same frequency: within the larger half-bandwidth of two detections, at least this (Hz).
HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ = env_float(
    "HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ", 500.0, minimum=0, maximum=10_000_000
)
# POST .../localize with detection_ids: the detections lie within this many seconds.
HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S = env_float(
    "HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S", 5.0, minimum=0, exclusive_minimum=True, maximum=3600
)

# --- admin user created by `make run` ---------------------------------------
HEIMDALL_ADMIN_PASSWORD = env_str("HEIMDALL_ADMIN_PASSWORD")

# --- i18n / time --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files and artifacts ---------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("HEIMDALL_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env_str("HEIMDALL_ARTIFACT_ROOT", str(VAR_DIR / "artifacts"))},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
# Starting weights for `pretrained: true` (<architecture>.pt files); nothing is downloaded.
HEIMDALL_PRETRAINED_DIR = env_str("HEIMDALL_PRETRAINED_DIR", "")
# A training job whose worker died resumes from its last epoch's checkpoint at most this
# many times; then it fails with "worker lost" (docs/training.md).
HEIMDALL_TRAINING_MAX_RESUMES = env_int("HEIMDALL_TRAINING_MAX_RESUMES", 2, minimum=0)

# --- security (production behind HTTPS) --------------------------------------
HEIMDALL_HTTPS = env_bool("HEIMDALL_HTTPS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if HEIMDALL_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^health/?$"]  # load balancers probe over plain HTTP
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HEIMDALL_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("HEIMDALL_HSTS_PRELOAD", True)
# Reverse proxies / load balancers whose X-Forwarded-For/-Proto/-Host are
# believed (addresses or networks, comma-separated); nobody else's are.
HEIMDALL_TRUSTED_PROXIES = env_list("HEIMDALL_TRUSTED_PROXIES", [])
for _proxy in HEIMDALL_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"HEIMDALL_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network"
        ) from _exc
if env_str("HEIMDALL_NUM_PROXIES"):
    raise ImproperlyConfigured(
        "HEIMDALL_NUM_PROXIES is gone: it believed X-Forwarded-For from anyone who reached the "
        "server directly. List the proxies' addresses in HEIMDALL_TRUSTED_PROXIES instead."
    )
if env_bool("HEIMDALL_BEHIND_PROXY", False):
    if not HEIMDALL_TRUSTED_PROXIES:
        # X-Forwarded-Proto is dropped from untrusted peers (apps.core.proxies): without
        # the proxies listed every request would look like plain HTTP (redirect loops).
        raise ImproperlyConfigured(
            "HEIMDALL_BEHIND_PROXY needs HEIMDALL_TRUSTED_PROXIES: the proxies' addresses."
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# --- logging ------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "apps.core.logging.RequestIdFilter"},
        "outage": {"()": "apps.core.logging.OutageFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(client)s] %(message)s"
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "outage"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("HEIMDALL_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
    },
}
