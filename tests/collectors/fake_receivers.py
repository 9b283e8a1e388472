"""Local fake receivers that speak the KiwiSDR and OpenWebRX WebSocket protocols."""

import asyncio
import json
import struct

import numpy as np
import websockets

SAMPLE_RATE = 12_000


def tone(offset_hz: float, n: int, start: int, complex_: bool) -> np.ndarray:
    t = (np.arange(n) + start) / SAMPLE_RATE
    rng = np.random.default_rng(start)
    if complex_:
        noise = 0.001 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
        return 0.3 * np.exp(2j * np.pi * offset_hz * t) + noise
    return 0.3 * np.sin(2 * np.pi * offset_hz * t) + 0.001 * rng.standard_normal(n)


class FakeKiwi:
    """KiwiSDR: auth, MSG parameters, SND frames of I/Q (int16 big-endian), keepalives."""

    def __init__(self, offset_hz=1000.0, busy=False):
        self.offset_hz = offset_hz
        self.busy = busy
        self.commands: list[str] = []
        self.paths: list[str] = []

    async def handler(self, ws):
        self.paths.append(ws.request.path)
        auth = await ws.recv()
        self.commands.append(auth)
        if self.busy:
            await ws.send(b"MSG too_busy=4")
            return
        await ws.send(b"MSG version_maj=1 version_min=550")
        await ws.send(b"MSG audio_rate=12000")
        self.commands.append(await ws.recv())  # SET AR OK
        await ws.send(b"MSG sample_rate=12000.000")
        for _ in range(4):
            self.commands.append(await ws.recv())  # mod, agc, compression, keepalive
        sequence, position = 0, 0
        while True:
            samples = tone(self.offset_hz, 512, position, complex_=True)
            position += 512
            interleaved = np.empty(1024, dtype=">i2")
            interleaved[0::2] = np.round(samples.real * 32767)
            interleaved[1::2] = np.round(samples.imag * 32767)
            header = b"SND" + struct.pack("<BI", 0, sequence) + struct.pack(">H", 470)
            await ws.send(header + bytes(10) + interleaved.tobytes())
            sequence += 1


class FakeOpenWebRX:
    """OpenWebRX: handshake, config JSON, dspcontrol, type-2 audio frames (int16 LE)."""

    def __init__(self, audio_hz=1500.0, compression="none"):
        self.audio_hz = audio_hz
        self.compression = compression
        self.received: list = []

    async def handler(self, ws):
        hello = await ws.recv()
        self.received.append(hello)
        if not hello.startswith("SERVER DE CLIENT"):
            return
        await ws.send("CLIENT DE SERVER server=openwebrx version=v1.2.2")
        await ws.send(json.dumps({"type": "receiver_details", "value": {"receiver_name": "fake"}}))
        await ws.send(json.dumps({"type": "config", "value": {
            "center_freq": 14_200_000, "samp_rate": 2_400_000, "start_mod": "usb",
            "audio_compression": self.compression, "fft_compression": "none"}}))  # fmt: skip
        for _ in range(3):
            self.received.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "clients", "value": 7}))
        await ws.send(json.dumps({"type": "smeter", "value": 1e-7}))
        position = 0
        encoder = SyncedImaAdpcmEncoder()
        while True:
            await ws.send(bytes([1]) + bytes(2048))  # an FFT frame, to be ignored
            samples = np.round(tone(self.audio_hz, 1024, position, complex_=False) * 32767)
            position += 1024
            await asyncio.sleep(0.01)  # a real receiver paces audio in real time
            if self.compression == "adpcm":
                payload = encoder.encode(samples)
                for cut in range(0, len(payload), 300):  # frames cut across sync boundaries
                    await ws.send(bytes([2]) + payload[cut : cut + 300])
            else:
                await ws.send(bytes([2]) + samples.astype("<i2").tobytes())


async def serve(handler):
    server = await websockets.serve(handler, "127.0.0.1", 0, close_timeout=0.5)
    port = server.sockets[0].getsockname()[1]
    return server, port


class SyncedImaAdpcmEncoder:
    """The server side of OpenWebRX's audio ADPCM: IMA codes, b"SYNC" + state every 1000 bytes."""

    def __init__(self):
        self.index = 0
        self.predictor = 0
        self.since_sync = None  # write a sync frame first

    def _code(self, sample: int) -> int:
        from apps.collectors.adpcm import STEP_TABLE, decode_nibble

        step = STEP_TABLE[self.index]
        delta = sample - self.predictor
        code = 0
        if delta < 0:
            code, delta = 8, -delta
        if delta >= step:
            code, delta = code | 4, delta - step
        if delta >= step >> 1:
            code, delta = code | 2, delta - (step >> 1)
        if delta >= step >> 2:
            code |= 1
        _, self.index, self.predictor = decode_nibble(code, self.index, self.predictor)
        return code

    def encode(self, samples: np.ndarray) -> bytes:
        out = bytearray()
        values = samples.astype(np.int16).tolist()
        for i in range(0, len(values) - 1, 2):
            if self.since_sync is None or self.since_sync == 1000:
                out += b"SYNC" + struct.pack("<hh", self.index, self.predictor)
                self.since_sync = 0
            low, high = self._code(values[i]), self._code(values[i + 1])
            out.append(low | (high << 4))
            self.since_sync += 1
        return bytes(out)
