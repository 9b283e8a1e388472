"""The training lists' filters (the same FilterSets serve the API and the console)."""

from apps.core.filters import OneOfFilter, StrictFilterSet
from apps.training.models import SyntheticDataset, TrainingJob


class TrainingJobFilterSet(StrictFilterSet):
    """Seed 000's `status` of /training/jobs (and of seed 002's runs, which are jobs)."""

    status = OneOfFilter(choices=TrainingJob.Status.values)

    class Meta:
        model = TrainingJob
        fields: list[str] = []


class SyntheticDatasetFilterSet(StrictFilterSet):
    """`status` and `dataset_type` of /training/synthetic/datasets."""

    status = OneOfFilter(choices=SyntheticDataset.Status.values)
    dataset_type = OneOfFilter(choices=SyntheticDataset.Type.values)

    class Meta:
        model = SyntheticDataset
        fields: list[str] = []
