"""The registry's state machine: which status a model may move to, and who moves it.

| from | by PUT | by the system |
|---|---|---|
| draft (new) | training, archived | training (`POST /models/train`) |
| training | — | trained, failed (its job, or the callbacks) |
| trained | training, deprecated, archived | deployed (activation), training (train) |
| failed | draft, training, archived | training (train) |
| deployed | degraded, deprecated | deprecated (another model activated) |
| degraded | deprecated | deployed (activation) |
| deprecated | training, archived | deployed (activation), training (train) |
| archived | deprecated | — |

- `deployed` is set only by activation (`POST /models/{id}/activate`), which
  also moves the previously deployed model of the type to `deprecated`.
- `trained` and `failed` are set only by the end of training: the training job
  linked to the model, or the worker callbacks (`/training/complete`,
  `/training/fail`).
- `training` is set by `POST /models/train`, or by `PUT {"status": "training"}`
  when an external trainer takes the model (it then reports through the
  callbacks).

Everything else is `PUT`: an illegal move is a 409 naming both statuses.
"""

from apps.core.exceptions import Conflict

DRAFT, TRAINING, TRAINED, DEPLOYED = "draft", "training", "trained", "deployed"
FAILED, DEGRADED, DEPRECATED, ARCHIVED = "failed", "degraded", "deprecated", "archived"

# Moves a client may ask for with PUT {"status": ...}.
BY_REQUEST: dict[str, set[str]] = {
    DRAFT: {TRAINING, ARCHIVED},
    TRAINING: set(),  # ends through its job or the worker callbacks
    TRAINED: {TRAINING, DEPRECATED, ARCHIVED},
    FAILED: {DRAFT, TRAINING, ARCHIVED},
    DEPLOYED: {DEGRADED, DEPRECATED},
    DEGRADED: {DEPRECATED},
    DEPRECATED: {TRAINING, ARCHIVED},
    ARCHIVED: {DEPRECATED},
}
# Statuses from which a model may be (re)trained (POST /models/train).
TRAINABLE = {DRAFT, TRAINED, FAILED, DEPRECATED}
# Statuses from which activation deploys a model.
ACTIVATABLE = {TRAINED, DEPRECATED, DEGRADED, DEPLOYED}
# Moves only the system makes: training starts (POST /models/train), training ends (the
# job or a callback), activation (and the model it replaces).
BY_SYSTEM: dict[str, set[str]] = {
    DRAFT: {TRAINING},
    TRAINING: {TRAINED, FAILED},
    TRAINED: {TRAINING, DEPLOYED},
    FAILED: {TRAINING},
    DEPLOYED: {DEPRECATED},
    DEGRADED: {DEPLOYED},
    DEPRECATED: {TRAINING, DEPLOYED},
    ARCHIVED: set(),
}


def transitions() -> dict[str, dict[str, list[str]]]:
    """The machine as data (docs, the OpenAPI description, tests)."""
    return {
        status: {
            "by_request": sorted(BY_REQUEST[status]),
            "by_system": sorted(BY_SYSTEM.get(status, set())),
        }
        for status in BY_REQUEST
    }


def check_request(current: str, wanted: str) -> None:
    """Raise 409 unless a client may move a model from `current` to `wanted`."""
    if wanted == current:
        return
    if wanted == DEPLOYED:
        raise Conflict(
            "Only activation deploys a model: POST /api/v1/models/{id}/activate.",
            {"field": "status", "from": current, "to": wanted},
        )
    if wanted in (TRAINED, FAILED) and current == TRAINING:
        raise Conflict(
            "A model leaves training through its job or the worker callbacks "
            "(/training/complete, /training/fail), not by PUT.",
            {"field": "status", "from": current, "to": wanted},
        )
    if wanted not in BY_REQUEST[current]:
        allowed = sorted(BY_REQUEST[current])
        raise Conflict(
            f"A {current} model cannot become {wanted}; allowed: {', '.join(allowed) or 'none'}.",
            {"field": "status", "from": current, "to": wanted, "allowed": allowed},
        )
