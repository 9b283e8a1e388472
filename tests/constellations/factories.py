"""Constellations, created through `apps.constellations.services` (owner grants included)."""

import factory

from apps.constellations.models import Constellation
from apps.constellations.services import constellation_create
from tests.accounts.factories import UserFactory


class ConstellationFactory(factory.Factory):
    """`ConstellationFactory(owner=user, name="North")`; the owner holds every permission."""

    class Meta:
        model = Constellation

    owner = factory.SubFactory(UserFactory, role="operator")
    name = factory.Sequence(lambda n: f"Constellation {n}")
    description = ""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return constellation_create(**kwargs)
