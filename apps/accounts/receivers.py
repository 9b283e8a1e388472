"""Thin receivers: changes to a user that open WebSockets must see at once.

Each only asks the user's sockets to re-check (apps.core.consumers
`recheck_sockets`, after commit); the re-check itself reads the database.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save

from apps.core.consumers import recheck_sockets

_ONLY_BOOKKEEPING = frozenset({"last_login"})


def _user_saved(sender, instance, update_fields=None, created=False, **kwargs):
    if created or (update_fields and set(update_fields) <= _ONLY_BOOKKEEPING):
        return  # logins write last_login: no socket needs to hear of it
    recheck_sockets(user_ids=[instance.pk])


def _user_deleted(sender, instance, **kwargs):
    recheck_sockets(user_ids=[instance.pk])


def _groups_changed(sender, instance, action, pk_set=None, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if isinstance(instance, get_user_model()):
        recheck_sockets(user_ids=[instance.pk])
    elif pk_set:  # a group's members changed from the group's side
        recheck_sockets(user_ids=sorted(pk_set, key=str))


def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        recheck_sockets(user_ids=[user.pk])


def connect() -> None:
    user_model = get_user_model()
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="heimdall-ws-user-saved")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="heimdall-ws-user-del")
    m2m_changed.connect(
        _groups_changed, sender=user_model.groups.through, dispatch_uid="heimdall-ws-groups"
    )
    user_logged_out.connect(_logged_out, dispatch_uid="heimdall-ws-logout")
