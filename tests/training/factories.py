"""Training rows in any state, as the worker leaves them (factory_boy).

Jobs that really train are created through `POST /api/v1/training/jobs` or
`apps.training.services.job_create`; these factories serve reads (lists, filters,
budgets) that need many jobs and datasets in chosen states without running them.
"""

import factory
from factory.django import DjangoModelFactory

from apps.training.models import SyntheticDataset, TrainingJob


class TrainingJobFactory(DjangoModelFactory):
    """`TrainingJobFactory(status="running")`: a DeepSets job of 5 epochs."""

    class Meta:
        model = TrainingJob

    job_name = factory.Sequence(lambda n: f"job {n:03d}")
    config = factory.LazyFunction(lambda: {"epochs": 5})
    total_epochs = 5
    model_architecture = "deepsets"
    status = TrainingJob.Status.PENDING


class SyntheticDatasetFactory(DjangoModelFactory):
    """`SyntheticDatasetFactory(status="ready", dataset_type="signals")`: 100 samples,
    no artifact (a read of the row, never of the arrays)."""

    class Meta:
        model = SyntheticDataset

    name = factory.Sequence(lambda n: f"set {n:03d}")
    num_samples = 100
    dataset_type = SyntheticDataset.Type.LOCALIZATION
    status = SyntheticDataset.Status.PENDING
