"""Synthetic multi-day detection histories of WebSDR stations, with a realistic band plan
and day/night patterns (bench/anomalies.py, tests, demos).

The band plan follows IARU Region 1 (HF: CW, digital and SSB segments of 80/40/20 m,
NCDXF beacons on 14.100 MHz, FT8 on 7.074/14.074 MHz) and the broadcast
bands (49 m by night, 31 m by day, a 24-hour utility AM station on 4.625 MHz);
VHF stations hear 2 m (CW beacons, the SSB calling frequency, APRS on 144.800
MHz, FM repeaters on the 12.5 kHz raster) and 70 cm (FM repeaters, ISM
telemetry bursts). Propagation is a per-band hour profile: 80 m and 49 m
open at night, 20 m and 31 m by day, VHF always. Every station hears its own
random subset of the fixed users at its own strengths (Gaussian fading,
2-5 dB), plus random SSB contacts at free frequencies of the SSB segments
(novel carriers are ordinary there).

Rows are plain arrays (`History`); times are seconds since day 0, 00:00 UTC.
"""

from dataclasses import dataclass

import numpy as np

DAY = 86_400
NIGHT = np.array([1 if (h >= 18 or h < 6) else 0 for h in range(24)], dtype=float)
DAYTIME = np.array([1 if 7 <= h < 18 else 0 for h in range(24)], dtype=float)
ALWAYS = np.ones(24)
EVENING = np.array([1 if 16 <= h < 23 else 0 for h in range(24)], dtype=float)


@dataclass
class User:
    frequency_hz: int
    modulation: str
    bandwidth_hz: float
    hours: np.ndarray  # probability of being on the air in each UTC hour
    rate_per_hour: float  # detections per on-air hour


# (low, high, modulation, bandwidth): the SSB segments where random contacts happen
SSB_SEGMENTS_HF = [
    (3_600_000, 3_775_000, "LSB", NIGHT),
    (7_060_000, 7_200_000, "LSB", np.clip(NIGHT + DAYTIME * 0.6, 0, 1)),
    (14_125_000, 14_350_000, "USB", DAYTIME),
]


def _hf_users(rng) -> list[User]:
    users = []
    for f in (3_520_000, 3_545_000, 7_010_000, 7_025_000, 14_020_000, 14_045_000):
        hours = NIGHT if f < 4e6 else (DAYTIME if f > 1e7 else ALWAYS * 0.7)
        users.append(User(f, "CW", 150.0, hours, 4))
    for f in (7_074_000, 14_074_000):
        users.append(User(f, "FSK", 2_000.0, DAYTIME if f > 1e7 else ALWAYS, 10))
    users.append(User(14_100_000, "CW", 100.0, DAYTIME, 6))  # NCDXF beacons
    for f in (3_650_000, 3_710_000, 7_090_000, 7_150_000):  # nets
        hours = np.zeros(24)
        start = int(rng.integers(17, 22)) if f < 4e6 else int(rng.integers(6, 20))
        hours[start : start + 2] = 1
        users.append(User(f, "LSB", 2_700.0, hours, 8))
    for f in (14_205_000, 14_250_000, 14_300_000):
        users.append(User(f, "USB", 2_700.0, DAYTIME * 0.8, 6))
    for f in range(5_910_000, 6_200_000, 45_000):  # 49 m broadcast, evening and night
        users.append(User(f, "AM", 9_000.0, np.clip(NIGHT + EVENING, 0, 1), 6))
    for f in range(9_410_000, 9_900_000, 60_000):  # 31 m broadcast, by day
        users.append(User(f, "AM", 9_000.0, DAYTIME, 6))
    users.append(User(4_625_000, "AM", 6_000.0, ALWAYS, 6))  # utility, 24 h
    users.append(User(8_957_000, "USB", 2_700.0, ALWAYS * 0.5, 3))  # aero weather
    return users


def _vhf_users(rng) -> list[User]:
    users = [
        User(144_800_000, "FM", 12_000.0, ALWAYS, 20),  # APRS
        User(144_300_000, "USB", 2_700.0, EVENING, 3),
        User(144_412_500, "CW", 150.0, ALWAYS, 6),  # beacons
        User(144_437_500, "CW", 150.0, ALWAYS, 6),
    ]
    for k in range(8):  # 2 m repeater outputs R0..R7 (145.600-145.775)
        users.append(User(145_600_000 + 25_000 * k, "FM", 11_000.0, ALWAYS * 0.4, 6))
    for k in range(6):  # 70 cm repeaters
        users.append(User(438_650_000 + 25_000 * k, "FM", 11_000.0, ALWAYS * 0.3, 5))
    for f in (433_920_000, 434_050_000):  # ISM telemetry
        users.append(User(f, "FSK", 20_000.0, ALWAYS, 10))
    return users


@dataclass
class History:
    station: np.ndarray
    frequency_hz: np.ndarray
    time_s: np.ndarray
    strength_db: np.ndarray
    bandwidth_hz: np.ndarray
    modulation: np.ndarray
    snr_db: np.ndarray

    @property
    def day(self) -> np.ndarray:
        return self.time_s // DAY

    @property
    def hour(self) -> np.ndarray:
        return (self.time_s % DAY) // 3600

    def take(self, mask) -> "History":
        return History(**{k: v[mask] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: list["History"]) -> "History":
        return History(
            **{k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].__dict__}
        )


@dataclass
class Station:
    id: str
    vhf: bool
    users: list[User]
    strength: np.ndarray  # per user: mean dB
    fading: np.ndarray  # per user: sd dB
    noise_db: float


def stations(count: int, seed: int) -> list[Station]:
    """`count` stations (every third a VHF/UHF one), each hearing ~70 % of its band's users."""
    rng = np.random.default_rng(seed)
    result = []
    for index in range(count):
        vhf = index % 3 == 2
        users = _vhf_users(rng) if vhf else _hf_users(rng)
        keep = rng.random(len(users)) < 0.7
        users = [u for u, k in zip(users, keep, strict=True) if k]
        result.append(
            Station(
                id=f"{'vhf' if vhf else 'hf'}-{index:02d}",
                vhf=vhf,
                users=users,
                strength=rng.uniform(-100, -55, len(users)),
                fading=rng.uniform(2.0, 5.0, len(users)),
                noise_db=float(rng.uniform(-118, -108)),
            )
        )
    return result


def generate(plan: list[Station], *, days: int, seed: int, random_contacts: int = 20) -> History:
    """Every station's detections over `days` days: each user on the air in an hour with
    that hour's probability, then Poisson(rate) detections at random times in it; and
    `random_contacts` SSB contacts a day per HF segment (10-60 min, at a free 1 kHz step)."""
    rng = np.random.default_rng(seed)
    parts = []
    hours_total = days * 24
    for station in plan:
        for u, user in enumerate(station.users):
            hour_of = np.arange(hours_total) % 24
            on = rng.random(hours_total) < user.hours[hour_of]
            counts = rng.poisson(user.rate_per_hour, hours_total) * on
            n = int(counts.sum())
            if not n:
                continue
            start = np.repeat(np.arange(hours_total) * 3600, counts)
            parts.append(_rows(rng, station, user, start + rng.integers(0, 3600, n), u))
        if station.vhf:
            continue
        for low, high, modulation, hours in SSB_SEGMENTS_HF:
            for day in range(days):
                for _ in range(rng.poisson(random_contacts)):
                    hour = int(rng.choice(24, p=hours / hours.sum()))
                    length = int(rng.integers(600, 3600))
                    n = max(1, length // 120)
                    frequency = int(rng.integers(low // 1000, high // 1000)) * 1000
                    user = User(frequency, modulation, 2_700.0, hours, 0)
                    times = day * DAY + hour * 3600 + np.sort(rng.integers(0, length, n))
                    parts.append(
                        _rows(rng, station, user, times, None, strength=rng.uniform(-100, -60))
                    )
    history = History.concat(parts)
    return history.take(np.argsort(history.time_s, kind="stable"))


def _rows(rng, station: Station, user: User, times, u, strength=None) -> History:
    n = len(times)
    mean = station.strength[u] if strength is None else strength
    sd = station.fading[u] if u is not None else 4.0
    level = mean + rng.normal(0, sd, n)
    return History(
        station=np.full(n, station.id),
        frequency_hz=np.full(n, user.frequency_hz, dtype=np.int64) + rng.integers(-60, 61, n),
        time_s=np.asarray(times, dtype=np.int64),
        strength_db=level,
        bandwidth_hz=np.maximum(user.bandwidth_hz * rng.normal(1, 0.05, n), 50.0),
        modulation=np.full(n, user.modulation),
        snr_db=level - station.noise_db + rng.normal(0, 1, n),
    )
