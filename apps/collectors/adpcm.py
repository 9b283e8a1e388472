"""IMA ADPCM as OpenWebRX sends audio: nibbles low-then-high, in "SYNC" frames.

csdr's `AdpcmEncoder(sync=True)` (luarvique/csdr and jketterl/csdr
`src/lib/adpcm.cpp`, used by OpenWebRX's `csdr/chain/clientaudio.py`) writes
b"SYNC" and the codec state (int16 step index, int16 predictor,
little-endian) before its first byte and then after every 1001 payload bytes
(its counter starts at 1000 and is tested before it is decremented), so a
client can join mid-stream; OpenWebRX's own `ImaAdpcmCodec.decodeWithSync`
(`htdocs/lib/AudioEngine.js`) decodes 1001 bytes per sync frame too. The
decoder hunts for the sync word, loads the state, then decodes until the
next one. State persists across WebSocket frames.
"""

import struct

import numpy as np

INDEX_TABLE = (-1, -1, -1, -1, 2, 4, 6, 8, -1, -1, -1, -1, 2, 4, 6, 8)
STEP_TABLE = (
    7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66,
    73, 80, 88, 97, 107, 118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408,
    449, 494, 544, 598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552, 1707, 1878, 2066,
    2272, 2499, 2749, 3024, 3327, 3660, 4026, 4428, 4871, 5358, 5894, 6484, 7132, 7845, 8630,
    9493, 10442, 11487, 12635, 13899, 15289, 16818, 18500, 20350, 22385, 24623, 27086, 29794,
    32767,
)  # fmt: skip
SYNC_WORD = b"SYNC"
SYNC_PERIOD = 1001  # payload bytes between sync frames


def decode_nibble(code: int, index: int, predictor: int) -> tuple[int, int, int]:
    """(sample, new index, new predictor) for one 4-bit code."""
    step = STEP_TABLE[index]
    diff = step >> 3
    if code & 1:
        diff += step >> 2
    if code & 2:
        diff += step >> 1
    if code & 4:
        diff += step
    predictor = predictor - diff if code & 8 else predictor + diff
    predictor = max(-32768, min(32767, predictor))
    index = max(0, min(88, index + INDEX_TABLE[code]))
    return predictor, index, predictor


class SyncedImaAdpcmDecoder:
    def __init__(self) -> None:
        self.phase = 0  # 0 hunting the sync word, 1 reading the state, 2 decoding
        self.matched = 0
        self.state = bytearray()
        self.index = 0
        self.predictor = 0
        self.decoded_since_sync = 0

    def decode(self, data: bytes) -> np.ndarray:
        out: list[int] = []
        position = 0
        while position < len(data):
            byte = data[position]
            position += 1
            if self.phase == 0:
                self.matched = self.matched + 1 if byte == SYNC_WORD[self.matched] else 0
                if self.matched == len(SYNC_WORD):
                    self.phase, self.matched, self.state = 1, 0, bytearray()
            elif self.phase == 1:
                self.state.append(byte)
                if len(self.state) == 4:
                    self.index, self.predictor = struct.unpack("<hh", bytes(self.state))
                    self.index = max(0, min(88, self.index))
                    self.phase, self.decoded_since_sync = 2, 0
            else:
                for code in (byte & 0x0F, byte >> 4):
                    sample, self.index, self.predictor = decode_nibble(
                        code, self.index, self.predictor
                    )
                    out.append(sample)
                self.decoded_since_sync += 1
                if self.decoded_since_sync == SYNC_PERIOD:
                    self.phase = 0
        return np.asarray(out, dtype=np.int16)
