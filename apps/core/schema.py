"""drf-spectacular adjustments for Heimdall's URL style."""

import re

from drf_spectacular.openapi import AutoSchema


def strip_optional_slash(endpoints, **kwargs):
    """Paths are matched by `.../?$`; document them as the seeds write them, without the slash."""
    return [
        (path.rstrip("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


class HeimdallAutoSchema(AutoSchema):
    def get_operation_id(self):
        """`StationDetailView` + PUT → `station_detail_update`: unique, and readable in SDKs."""
        if getattr(self.view, "action", None):  # viewsets keep spectacular's naming
            return super().get_operation_id()
        name = self.view.__class__.__name__.removesuffix("View")
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        verbs = {"get": "retrieve", "post": "create", "put": "update", "patch": "partial_update",
                 "delete": "destroy"}  # fmt: skip
        return f"{snake}_{verbs.get(self.method.lower(), self.method.lower())}"
