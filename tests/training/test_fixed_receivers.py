"""Fixed receivers hear only frequencies they cover (issue 12 §8): HF-only stations
heard a 145 MHz transmitter in 41-80 % of samples."""

import numpy as np
import pytest

from apps.training import generator, tasks
from apps.training.datasets import dataset_load
from apps.training.models import SyntheticDataset
from tests.helpers import assert_envelope
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
GENERATE = "/api/v1/training/synthetic/generate"
HF = (0, 30_000_000)
VHF_UHF = (144_000_000, 440_000_000)
# A ring of receivers over the seed's area, alternating HF-only and VHF/UHF.
RING = [(45.0 + 0.8 * np.sin(a), 8.5 + 1.2 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 9)[:-1]]


def params(fixed, frequency_mhz=145.0, **extra):
    return generator.LocalizationParameters(
        num_samples=300, use_random_receivers=False, min_receivers_count=4,
        max_receivers_count=10, receiver_seed=3, area_lat_min=44.0, area_lat_max=46.0,
        area_lon_min=7.0, area_lon_max=10.0, frequency_mhz=frequency_mhz, tx_power_dbm=37.0,
        min_snr_db=3.0, min_receivers=3, max_gdop=10.0, fixed_receivers=tuple(fixed), **extra,
    )  # fmt: skip


def heard_positions(arrays) -> set[tuple[float, float]]:
    used = arrays["receivers"][..., :2][arrays["mask"]]
    return {(round(float(a), 3), round(float(b), 3)) for a, b in used}


def ring(coverages):
    return [(lat, lon, *cover) for (lat, lon), cover in zip(RING, coverages, strict=True)]


@pytest.mark.parametrize(("frequency_mhz", "deaf"), [(145.0, HF), (14.2, VHF_UHF)])
def test_receivers_never_hear_what_they_cannot_tune(frequency_mhz, deaf):
    fixed = ring([HF, VHF_UHF] * 4)
    arrays = generator.generate_localization(params(fixed, frequency_mhz), lambda done: None)
    heard = heard_positions(arrays)
    deaf_positions = {(round(r[0], 3), round(r[1], 3)) for r in fixed if (r[2], r[3]) == deaf}
    able_positions = {(round(r[0], 3), round(r[1], 3)) for r in fixed if (r[2], r[3]) != deaf}
    assert heard.isdisjoint(deaf_positions)  # never, in 300 samples
    assert heard == able_positions  # the others do hear


def test_too_few_covering_receivers_fail_at_once():
    fixed = ring([HF] * 6 + [VHF_UHF] * 2)
    with pytest.raises(generator.GenerationError, match=r"2 of 8 fixed receivers cover 145\.0 MHz"):
        generator.generate_localization(params(fixed), lambda done: None)


def test_positions_without_coverage_still_mean_any_frequency():
    """Parameters stored before coverage was recorded: (lat, lon) pairs."""
    arrays = generator.generate_localization(params(RING[:5]), lambda done: None)
    assert arrays["mask"].sum(axis=1).min() >= 3


def _constellation(owner, coverages):
    from apps.constellations.services import constellation_create, member_add

    constellation = constellation_create(owner=owner, name="Ring")
    for index, ((lat, lon), (low, high)) in enumerate(zip(RING, coverages, strict=True)):
        StationFactory(id=f"ring-{index}", latitude=lat, longitude=lon, frequency_min=low,
                          frequency_max=high)  # fmt: skip
        member_add(constellation=constellation, station_id=f"ring-{index}", added_by=owner)
    return constellation


def test_api_picks_only_covering_stations(operator_client, operator_user):
    constellation = _constellation(operator_user, [HF, VHF_UHF] * 4)
    body = operator_client.post(GENERATE, {
        "name": "VHF ring", "use_random_receivers": False,
        "constellation_id": str(constellation.pk), "num_samples": 50, "receiver_seed": 1,
    }, format="json").json()  # fmt: skip
    fixed = body["parameters"]["fixed_receivers"]
    assert [tuple(r[2:]) for r in fixed] == [VHF_UHF] * 4
    assert tasks.generate_dataset(body["id"]) == "ready"
    arrays = dataset_load(SyntheticDataset.objects.get(pk=body["id"]))
    hf_positions = {(round(lat, 3), round(lon, 3)) for lat, lon in RING[0::2]}
    assert heard_positions(arrays).isdisjoint(hf_positions)


def test_api_refuses_a_constellation_that_cannot_hear_the_frequency(operator_client,
                                                                    operator_user):  # fmt: skip
    constellation = _constellation(operator_user, [HF] * 8)
    response = operator_client.post(GENERATE, {
        "name": "HF ring", "use_random_receivers": False, "frequency_mhz": 145.0,
        "constellation_id": str(constellation.pk),
    }, format="json")  # fmt: skip
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "constellation_id")
    assert error["details"]["constraint"] == (
        "0 of 8 fixed receivers cover 145.0 MHz; min_receivers is 3"
    )
    assert not SyntheticDataset.objects.exists()
