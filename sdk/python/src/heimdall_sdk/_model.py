"""The base of every typed result (heimdall_sdk.models)."""

import dataclasses
import sys
from typing import Any, ClassVar, Self


class Model:
    """A dataclass built from a JSON object of the API.

    `from_dict` fills the declared fields (missing ones are None; unknown keys
    are kept in `to_dict()` only, so a newer server never breaks an older SDK)
    and builds nested models named in the generated `__nested__` map.
    """

    __nested__: ClassVar[dict[str, tuple[str, str]]] = {}
    __renamed__: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        models = sys.modules["heimdall_sdk.models"]
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            key = cls.__renamed__.get(field.name, field.name)
            value = data.get(key)
            kind = cls.__nested__.get(field.name)
            if kind and value is not None:
                target = getattr(models, kind[1])
                if kind[0] == "list":
                    value = [target.from_dict(v) if isinstance(v, dict) else v for v in value]
                elif isinstance(value, dict):
                    value = target.from_dict(value)
            values[field.name] = value
        instance = cls(**values)
        object.__setattr__(instance, "_raw", data)
        return instance

    def to_dict(self) -> dict[str, Any]:
        """The JSON object this model was built from (all keys, unknown ones included)."""
        raw = getattr(self, "_raw", None)
        if raw is not None:
            return raw
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Model):
            return type(self) is type(other) and self.to_dict() == other.to_dict()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
