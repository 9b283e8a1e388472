"""The deployed model of a type, loaded once per process and reloaded when another is activated.

Each process keeps the loaded model; at most once a second it reads the
active model id from the shared cache (Redis in production, one GET), and
loads the new bundle when the id changed. So activating a model reaches every
web and worker process within about a second, without a restart. The anomaly
scorer (apps.ml.scoring) and the localization model (apps.ml.localization)
are both served this way.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from apps.core.outages import cached
from apps.ml.models import MLModel
from apps.ml.selectors import SERVING_STATUSES
from apps.ml.services import ACTIVE_CACHE_KEY, ACTIVE_CACHE_TTL_S

logger = logging.getLogger(__name__)
CHECK_INTERVAL_S = 1.0
Loaded = TypeVar("Loaded")
_all: list["ActiveModel"] = []


def active_model_id(model_type: str) -> str | None:
    """The deployed model's id, from the shared cache (filled from the database on a miss,
    read from it while the cache is unreachable)."""

    def deployed() -> str:
        model_id = (
            MLModel.objects.filter(model_type=model_type, status__in=SERVING_STATUSES)
            .values_list("pk", flat=True)
            .first()
        )
        return str(model_id) if model_id else ""

    key = ACTIVE_CACHE_KEY.format(model_type=model_type)
    return cached(key, deployed, ACTIVE_CACHE_TTL_S) or None


class ActiveModel(Generic[Loaded]):
    """`get()`: the deployed model of `model_type` as `loader(MLModel)` made it, or None.

    Loaded objects must carry `model_id` (the registry id they came from)."""

    def __init__(self, model_type: str, loader: Callable[[MLModel], Loaded]):
        self.model_type, self.loader = model_type, loader
        self._lock = threading.Lock()
        self._loaded: Loaded | None = None
        self._checked = 0.0
        self.problem: str | None = None  # why the deployed model could not be loaded
        _all.append(self)

    def get(self) -> Loaded | None:
        now = time.monotonic()
        with self._lock:
            loaded = self._loaded
            if now - self._checked < CHECK_INTERVAL_S:
                return loaded
            self._checked = now
        model_id = active_model_id(self.model_type)
        problem = None
        if model_id is None:
            loaded = None
        elif loaded is None or loaded.model_id != model_id:
            model = MLModel.objects.filter(pk=model_id).first()
            try:
                loaded = self.loader(model) if model else None
            except Exception as exc:  # a broken bundle: callers fall back, and say why
                logger.exception("could not load the deployed %s model %s", self.model_type,
                                 model_id)  # fmt: skip
                loaded, problem = None, f"model {model_id} could not be loaded: {exc}"
        with self._lock:
            self._loaded, self.problem = loaded, problem
        return loaded

    def expire(self) -> None:
        """Look at the cache again on the next get() (tests: skip the recheck interval)."""
        with self._lock:
            self._checked = 0.0

    def forget(self) -> None:
        with self._lock:
            self._loaded, self._checked, self.problem = None, 0.0, None


def forget_loaded_models() -> None:
    """Drop every process-loaded model (tests)."""
    for active in _all:
        active.forget()
