"""The classic WebSDR's audio stream: its items, and the samples they carry.

PA3FWM's WebSDR server is closed software and its page's sound script may
not be reused; this is an independent implementation, for interoperability,
of the stream format as published in Guru-RF/VFO-Knob's WEBSDR-PROTOCOL.md
§3 (summarised in that project's `components/wsdr_proto/include/wsdr_proto.h`
and `tools/wsdr_codec.py`). No code of the WebSDR page is in here.

A binary WebSocket message is a run of items, each starting on a byte:

    0xF0-0xFF  2 bytes   S-meter, 12 bits: dBm = value / 10 - 127
    0x80       1 + 128   128 samples of ITU-T G.711 A-law (the predictor forgets)
    0x90-0xDF  a block   128 coded samples; the coder width I = 14 - (byte >> 4),
                         the block's bits start at this byte's bit 4
    0x00-0x7F  a block   128 coded samples with the previous I, bits from bit 1
    0x81       3         the sample rate, Hz, big-endian; 0: refused (too busy)
    0x82       3         the quantiser step, big-endian
    0x83       2         the conversion byte: 0x10 set for SSB/CW (no integrator)
    0x84       1         128 samples of silence (muted or squelched; the predictor forgets)
    0x85, 0x87 7         AM-sync carrier information, the server's clock (skipped)
    0x86       1         a resync hint (skipped)
    other      1         skipped

A coded sample is a residual: a quotient in unary (zeros then a one; after
15 - I zeros an eight-bit quotient instead), a mantissa of I - 1 bits (one or
two fewer for large quotients, by the SHRINK table), then a sign bit (a
negative residual is stored as its complement). residual * step + step / 2
corrects a prediction from the last 20 outputs by 20 taps that adapt with
every sample and leak towards zero; AM and FM (conversion without 0x10) also
pass the result through an integrator. The page computes in JavaScript
numbers: 32-bit wrap-around for bit operations, exact halves for divisions;
the history is kept doubled here so that every half stays an integer.
"""

from dataclasses import dataclass, field
from operator import mul

import numpy as np

BLOCK = 128
SHRINK = (999, 999, 8, 4, 2, 1, 99, 99)
TAPS = 20


def _i32(value: int) -> int:
    """A 32-bit signed wrap-around (JavaScript's ToInt32)."""
    if -0x80000000 <= value <= 0x7FFFFFFF:
        return value
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def _i16(value: int) -> int:
    """A 16-bit signed wrap-around (a store into an Int16Array)."""
    if -0x8000 <= value <= 0x7FFF:
        return value
    value &= 0xFFFF
    return value - 0x10000 if value & 0x8000 else value


def _half(value: int) -> int:
    """value / 2 rounded toward zero (C integer division)."""
    return -((-value) >> 1) if value < 0 else value >> 1


def alaw_to_linear(code: int) -> int:
    """ITU-T G.711 A-law to a 16-bit sample."""
    a = code ^ 0x55
    segment = (a >> 4) & 7
    t = (a & 0x0F) << 4
    t = t + 8 if segment == 0 else (t + 0x108) << (segment - 1)
    return t if a & 0x80 else -t


ALAW = np.array([alaw_to_linear(c) for c in range(256)], dtype=np.int16)


@dataclass
class StreamState:
    """Everything the items say, as they come; the decoder's state between messages."""

    rate: int | None = None
    step: int = 0
    conv: int = 0
    width: int = 1
    meter_dbm: float | None = None
    taps: list[int] = field(default_factory=lambda: [0] * TAPS)
    history2: list[int] = field(default_factory=lambda: [0] * TAPS)
    integrator: int = 0
    silent_blocks: int = 0
    coded_blocks: int = 0
    alaw_blocks: int = 0

    def forget(self) -> None:
        self.taps = [0] * TAPS
        self.history2 = [0] * TAPS
        self.integrator = 0


def _decode_block(state: StreamState, data: bytes, pos: int, bit: int) -> tuple[list[int], int]:
    """128 coded samples from `data` at byte `pos`, bit `bit`; (samples, index of the next item)."""
    n = len(data)
    w = state.width
    limit = 15 - w
    shrink_hi, shrink_lo = SHRINK[w], SHRINK[w - 1]
    taps, hist2 = state.taps, state.history2
    step, conv = state.step, state.conv
    adapt_shift = 12 if conv & 0x10 else 14
    out: list[int] = []
    for _ in range(BLOCK):
        window = 0
        for k in range(4):
            window = (window << 8) | (data[pos + k] if pos + k < n else 0)
        window = (window << bit) & 0xFFFFFFFF
        zeros = 0
        if window:
            while not window & 0x80000000 and zeros < limit:
                window = (window << 1) & 0xFFFFFFFF
                zeros += 1
        if zeros < limit:
            quotient, used = zeros, zeros + 1
            window = (window << 1) & 0xFFFFFFFF
        else:
            quotient, used = window >> 24, zeros + 8
            window = (window << 8) & 0xFFFFFFFF
        shrunk = min((quotient >= shrink_hi) + (quotient >= shrink_lo), w - 1)
        residual = ((window >> (33 - w)) if w > 1 else 0) & ~((1 << shrunk) - 1)
        residual += quotient << (w - 1)
        if window & (1 << (32 - w + shrunk)):
            residual = ~(residual | ((1 << shrunk) - 1))
        bit += used + w - shrunk
        pos += bit >> 3
        bit &= 7

        accumulated = _i32(_half(sum(map(mul, taps, hist2))))
        prediction = (accumulated if accumulated >= 0 else accumulated + 4095) >> 12
        correction2 = 2 * residual * step + step
        adapt = _i32(_half(correction2)) >> 4
        # Every tap adapts by the history as it was; then the history moves on by one.
        taps = [
            _i32(t - (t >> 7) + (_i32(_half(h * adapt)) >> adapt_shift))
            for t, h in zip(taps, hist2, strict=True)
        ]
        hist2 = [2 * prediction + correction2, *hist2[:-1]]
        out.append(_i16(_half(hist2[0] + 2 * (_i32(state.integrator) >> 4))))
        if conv & 0x10:
            state.integrator = 0
        else:
            state.integrator += _i32((_i32(_half(hist2[0])) << 4) & 0xFFFFFFFF) >> 3
    state.taps, state.history2 = taps, hist2
    return out, (pos if bit else pos - 1) + 1


def decode_message(state: StreamState, data: bytes) -> np.ndarray:
    """The int16 samples of one binary message; `state` records rate, meter and counts."""
    out: list[int] = []
    n, i = len(data), 0

    def byte(k: int) -> int:
        return data[k] if k < n else 0

    while i < n:
        b = data[i]
        if b >= 0xF0:
            state.meter_dbm = (((b & 0x0F) << 8) | byte(i + 1)) / 10 - 127
            i += 2
        elif b == 0x80:
            out.extend(int(ALAW[byte(i + 1 + k)]) for k in range(BLOCK))
            state.forget()
            state.alaw_blocks += 1
            i += 1 + BLOCK
        elif 0x90 <= b <= 0xDF or b < 0x80:
            if b >= 0x90:
                state.width = 14 - (b >> 4)
                samples, i = _decode_block(state, data, i, 4)
            else:
                samples, i = _decode_block(state, data, i, 1)
            out.extend(samples)
            state.coded_blocks += 1
        elif b == 0x81:
            state.rate = (byte(i + 1) << 8) | byte(i + 2)
            i += 3
        elif b == 0x82:
            state.step = (byte(i + 1) << 8) | byte(i + 2)
            i += 3
        elif b == 0x83:
            state.conv = byte(i + 1)
            i += 2
        elif b == 0x84:
            out.extend([0] * BLOCK)
            state.forget()
            state.silent_blocks += 1
            i += 1
        elif b in (0x85, 0x87):
            i += 7
        else:
            i += 1
    return np.asarray(out, dtype=np.int16)
