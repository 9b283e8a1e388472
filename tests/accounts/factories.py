"""Users, created through `apps.accounts.services.user_create` (one role group each)."""

import factory

from apps.accounts.services import user_create
from tests.helpers import PASSWORD


class UserFactory(factory.Factory):
    """`UserFactory(role="operator")`; every user's password is `tests.helpers.PASSWORD`."""

    class Meta:
        model = dict  # built by the service, not by the model's constructor

    username = factory.Sequence(lambda n: f"user{n}")
    role = "viewer"
    email = ""
    display_name = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return user_create(password=PASSWORD, validate=False, **kwargs)
