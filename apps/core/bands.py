"""Spectrum band plans used across apps (ITU designations, IARU Region 1 amateur bands)."""

# The highest frequency Heimdall stores or filters on (the top of the ITU EHF band):
# ingest, stations, the detection list's filters and statistics all check against it.
MAX_FREQUENCY_HZ = 300_000_000_000

# ITU radio bands, by lower edge (Hz), for statistics' `by_frequency_band`.
ITU_BANDS: list[tuple[str, int, int]] = [
    ("vlf", 3_000, 30_000),
    ("lf", 30_000, 300_000),
    ("mf", 300_000, 3_000_000),
    ("hf", 3_000_000, 30_000_000),
    ("vhf", 30_000_000, 300_000_000),
    ("uhf", 300_000_000, 3_000_000_000),
    ("shf", 3_000_000_000, 30_000_000_000),
]

# IARU Region 1 amateur allocations (Hz).
AMATEUR_BANDS: list[tuple[str, int, int]] = [
    ("2200m", 135_700, 137_800),
    ("630m", 472_000, 479_000),
    ("160m", 1_810_000, 2_000_000),
    ("80m", 3_500_000, 3_800_000),
    ("60m", 5_351_500, 5_366_500),
    ("40m", 7_000_000, 7_200_000),
    ("30m", 10_100_000, 10_150_000),
    ("20m", 14_000_000, 14_350_000),
    ("17m", 18_068_000, 18_168_000),
    ("15m", 21_000_000, 21_450_000),
    ("12m", 24_890_000, 24_990_000),
    ("10m", 28_000_000, 29_700_000),
    ("6m", 50_000_000, 52_000_000),
    ("4m", 70_000_000, 70_500_000),
    ("2m", 144_000_000, 146_000_000),
    ("70cm", 430_000_000, 440_000_000),
    ("23cm", 1_240_000_000, 1_300_000_000),
]


def itu_band(frequency_hz: int) -> str:
    for name, low, high in ITU_BANDS:
        if low <= frequency_hz < high:
            return name
    return "other"


def amateur_band(frequency_hz: int) -> str | None:
    for name, low, high in AMATEUR_BANDS:
        if low <= frequency_hz <= high:
            return name
    return None


def amateur_bands_within(frequency_min: int, frequency_max: int) -> list[str]:
    return [
        name for name, low, high in AMATEUR_BANDS if low >= frequency_min and high <= frequency_max
    ]
