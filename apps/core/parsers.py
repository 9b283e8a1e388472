"""The API's JSON parser: DRF's, refusing numbers no field can hold (apps.core.numbers)."""

import codecs

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from apps.core.exceptions import ValidationFailed
from apps.core.numbers import BadValue, fast_checked_loads


class FiniteJSONParser(JSONParser):
    """`1e400`, `NaN`, `Infinity`, an integer beyond 64 bits or a string holding NUL
    (`\\u0000`) anywhere in the body (free-form objects included) is a 400 naming its
    path, e.g. `signal_data.sample_rate` or `api_config.timeout`."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            body = stream.read()
            if encoding.lower().replace("-", "") != "utf8":
                body = codecs.decode(body, encoding).encode("utf-8")
            return fast_checked_loads(body)
        except BadValue as bad:
            raise ValidationFailed.for_field(bad.path, bad.constraint, bad.value) from None
        except ValueError as exc:  # malformed JSON, or undecodable bytes
            raise ParseError(f"JSON parse error - {exc}") from None
