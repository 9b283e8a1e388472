"""JSON Merge Patch (RFC 7396): how PATCH changes a JSON object field.

    json_merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": null, "e": 4}})
    == {"a": 1, "b": {"d": 3, "e": 4}}

A key set to null is removed; an object merges into an object, key by key,
at any depth; anything else (a number, a string, a list) replaces the old
value. PUT and POST replace the whole object instead (docs/api.md).
"""

from typing import Any


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 section 2 `MergePatch(Target, Patch)`; neither argument is modified."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result
