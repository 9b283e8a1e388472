import asyncio

import numpy as np

from apps.collectors.base import Chunk, Source
from apps.radio import simulation

ANOMALY_PROBABILITY = 0.005  # per chunk


class SimulatedSource(Source):
    """Realistic band activity around the station's tuned frequency, with rare anomalies."""

    def __init__(self, *, center_frequency: int, seed: int, poll_interval: float,
                 frequency_max: int) -> None:  # fmt: skip
        self.rng = np.random.default_rng(seed)
        self.center = center_frequency
        self.poll_interval = poll_interval
        self.frequency_max = frequency_max
        self.activity = simulation.BandActivity.random(center_frequency, self.rng)

    async def read(self) -> Chunk:
        await asyncio.sleep(self.poll_interval)
        kind = None
        if self.rng.random() < ANOMALY_PROBABILITY:
            kind = simulation.ANOMALY_KINDS[int(self.rng.integers(len(simulation.ANOMALY_KINDS)))]
            emitter = simulation.inject_anomaly(self.activity, kind)
        samples = simulation.synthesize(self.activity)
        center = self.center
        if kind is not None:
            self.activity.emitters.remove(emitter)
            if kind == "out_of_band_carrier":
                # Heard through an image/spur: reported past the station's coverage.
                center = self.frequency_max + 1_000_000
        if self.rng.random() < 0.02:  # the band changes now and then
            self.activity = simulation.BandActivity.random(self.center, self.rng)
        return Chunk(samples=samples, sample_rate=simulation.SAMPLE_RATE,
                     center_frequency=center, listeners=int(self.rng.integers(0, 30)),
                     injected_anomaly=kind)  # fmt: skip
