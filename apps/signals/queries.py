"""The detection list's read path: filters → SQL, page-number and keyset pages.

This is the hottest read in Heimdall (operators page through it all day, and
at hundreds of millions of rows), so the SQL is written here once instead of
being compiled by the ORM per request: ORM compilation and django-filter's
per-request setup cost more than the query itself (docs/performance.md).
Validation is still a Django form, rows still go through the model's field
converters (`Manager.raw`), and the same SQL runs on PostgreSQL and SQLite.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.exceptions import ValidationFailed
from apps.core.filters import RangeCheckedForm, StrictBooleanField, UTCDateTimeField, validated
from apps.signals.models import SignalDetection
from apps.signals.validation import MODULATION_TYPES
from apps.stations.models import Station

STATION_ID_MAX_LENGTH = Station._meta.get_field("id").max_length

# What a list row holds (DetectionListItemSerializer documents it in the API schema).
LIST_FIELDS = [
    "id",
    "websdr_station_id",
    "frequency_hz",
    "signal_strength_db",
    "bandwidth_hz",
    "modulation_type",
    "anomaly_score",
    "is_anomaly",
    "detection_timestamp",
]
ORDER = "detection_timestamp DESC, id DESC"


class DetectionFilterForm(RangeCheckedForm):
    """The detection list's filters; its bounds are also the OpenAPI schema's."""

    frequency_min = forms.IntegerField(required=False, min_value=0, max_value=MAX_FREQUENCY_HZ)
    frequency_max = forms.IntegerField(required=False, min_value=0, max_value=MAX_FREQUENCY_HZ)
    time_start = UTCDateTimeField(required=False)
    time_end = UTCDateTimeField(required=False)
    websdr_station = forms.CharField(required=False, max_length=STATION_ID_MAX_LENGTH)
    modulation_type = forms.ChoiceField(
        required=False, choices=[("", "")] + [(m, m) for m in sorted(MODULATION_TYPES)]
    )
    is_anomaly = StrictBooleanField(required=False)
    min_anomaly_score = forms.FloatField(required=False, min_value=0, max_value=1)

    ranges = [("frequency_min", "frequency_max"), ("time_start", "time_end")]


# form field → (model field, SQL comparison)
CONDITIONS = {
    "frequency_min": ("frequency_hz", ">="),
    "frequency_max": ("frequency_hz", "<="),
    "time_start": ("detection_timestamp", ">="),
    "time_end": ("detection_timestamp", "<="),
    "websdr_station": ("websdr_station_id", "="),
    "modulation_type": ("modulation_type", "="),
    "is_anomaly": ("is_anomaly", "="),
    "min_anomaly_score": ("anomaly_score", ">="),
}


def _db_value(attname: str, value):
    """`value` as the model field stores it (UUIDs and times differ between backends)."""
    return SignalDetection._meta.get_field(attname).get_db_prep_value(value, connection)


@dataclass(frozen=True)
class DetectionFilters:
    values: dict  # cleaned form data, None/"" where not given
    raw: dict  # the parameters as the client wrote them

    @classmethod
    def from_params(cls, params) -> "DetectionFilters":
        return cls(validated(DetectionFilterForm(params)), params)

    def where(self) -> tuple[str, list]:
        clauses, args = ["TRUE"], []
        for name, (attname, op) in CONDITIONS.items():
            value = self.values.get(name)
            if value is None or value == "":
                continue
            clauses.append(f"{attname} {op} %s")
            args.append(_db_value(attname, value))
        return " AND ".join(clauses), args

    def applied(self) -> dict:
        """Seed 004's `filters_applied`: what narrowed the result, as the client gave it."""
        data = self.values
        applied: dict = {}
        if data.get("frequency_min") is not None or data.get("frequency_max") is not None:
            applied["frequency_range"] = [data.get("frequency_min"), data.get("frequency_max")]
        if data.get("time_start") or data.get("time_end"):
            applied["time_range"] = [
                self.raw.get("time_start") or None,
                self.raw.get("time_end") or None,
            ]
        if data.get("websdr_station"):
            applied["station"] = data["websdr_station"]
        for name in ("modulation_type", "is_anomaly", "min_anomaly_score"):
            if data.get(name) not in (None, ""):
                applied[name] = data[name]
        return applied

    def check_station_exists(self) -> None:
        """Unknown station → 400. Asked only when nothing matched: a hit proves the station."""
        station = self.values.get("websdr_station")
        if station and not Station.objects.filter(pk=station).exists():
            raise ValidationFailed.for_field(
                "websdr_station", f"unknown station '{station}'", station
            )


TABLE = SignalDetection._meta.db_table
SELECT = f"SELECT {', '.join(LIST_FIELDS)} FROM {TABLE}"  # noqa: S608 - constant names


def _converters() -> list[tuple[int, list, object]]:
    """The ORM's own value converters per column (none on PostgreSQL; UUIDs,
    times and booleans on SQLite), applied the way its compiler applies them."""
    found = []
    for index, name in enumerate(LIST_FIELDS):
        column = SignalDetection._meta.get_field(name).get_col(TABLE)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            found.append((index, functions, column))
    return found


def _rows(sql: str, args: list) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return _as_dicts(cursor.fetchall())


def _as_dicts(rows: list) -> list[dict]:
    converters = _converters()
    if converters:
        rows = [list(row) for row in rows]
        for row in rows:
            for index, functions, column in converters:
                for convert in functions:
                    row[index] = convert(row[index], column, connection)
    return [dict(zip(LIST_FIELDS, row, strict=True)) for row in rows]


def detection_numbered_page(
    filters: DetectionFilters, offset: int, limit: int
) -> tuple[int, list[dict]]:
    """(total matching, one page of rows) in one statement: one round trip, not two. The
    count is LEFT JOINed to the page so that it comes back when the page is empty."""
    where, args = filters.where()
    page = f"{SELECT} WHERE {where} ORDER BY {ORDER} LIMIT %s OFFSET %s"
    sql = (
        f"SELECT total.n, page.* FROM (SELECT count(*) AS n FROM {TABLE} WHERE {where}) total "  # noqa: S608
        f"LEFT JOIN ({page}) page ON 1 = 1 "
        "ORDER BY page.detection_timestamp DESC, page.id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*args, *args, limit, offset])
        fetched = cursor.fetchall()
    return fetched[0][0], _as_dicts([row[1:] for row in fetched if row[1] is not None])


# Keyset cursors: the (detection_timestamp, id) of the row a page continues from,
# and the direction. Opaque to clients; a page costs the same at any depth.
CURSOR_MAX_LENGTH = 200  # an issued cursor is about 110 characters


@dataclass(frozen=True)
class Cursor:
    timestamp: datetime
    id: str
    backwards: bool  # True: the page before this row (newer rows)

    def encode(self) -> str:
        text = json.dumps([self.timestamp.isoformat(), str(self.id), int(self.backwards)])
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        if len(token) > CURSOR_MAX_LENGTH:
            raise ValidationFailed.for_field("cursor", "is not a cursor this API issued")
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            timestamp, row_id, backwards = json.loads(text)
            return cls(datetime.fromisoformat(timestamp), str(row_id), bool(backwards))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise ValidationFailed.for_field("cursor", "is not a cursor this API issued") from None


@dataclass
class KeysetPage:
    rows: list[dict]
    next_cursor: str | None
    previous_cursor: str | None


def detection_keyset_page(filters: DetectionFilters, token: str, limit: int) -> KeysetPage:
    """One page after (or, for a backwards cursor, before) the cursor's row."""
    cursor = Cursor.decode(token) if token else None
    where, args = filters.where()
    backwards = bool(cursor and cursor.backwards)
    if cursor:
        # The plain timestamp bound is implied by the row comparison but is what
        # lets PostgreSQL prune partitions and range-scan the time indexes.
        sign = ">" if backwards else "<"
        timestamp = _db_value("detection_timestamp", cursor.timestamp)
        where += (
            f" AND detection_timestamp {sign}= %s AND (detection_timestamp, id) {sign} (%s, %s)"
        )
        args += [timestamp, timestamp, _cursor_id(cursor.id)]
    order = "detection_timestamp ASC, id ASC" if backwards else ORDER
    rows = _rows(f"{SELECT} WHERE {where} ORDER BY {order} LIMIT %s", [*args, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_previous = more if backwards else cursor is not None
    return KeysetPage(
        rows=rows,
        next_cursor=_edge(rows[-1], False) if rows and has_next else None,
        previous_cursor=_edge(rows[0], True) if rows and has_previous else None,
    )


def _cursor_id(raw: str):
    try:
        return _db_value("id", SignalDetection._meta.pk.to_python(raw))
    except DjangoValidationError:
        raise ValidationFailed.for_field("cursor", "is not a cursor this API issued") from None


def _edge(row: dict, backwards: bool) -> str:
    return Cursor(row["detection_timestamp"], row["id"], backwards).encode()
