"""Frequency channels and band segments: the units in which "the same carrier" and "what
this receiver normally hears here" are counted.

A channel is the nearest multiple of the channel step (integer Hz): 3 kHz below
30 MHz (one SSB voice channel, IARU Region 1 band plans), 12.5 kHz above (the
narrow FM channel raster of VHF/UHF, ETSI EN 300 086). A segment is a wider
slice (25 kHz below 30 MHz, 250 kHz above) in which the band plan fixes the
modes (CW, digital, SSB; FM repeaters, simplex).

Both take numpy arrays or plain ints and return the same kind (a channel's or
segment's centre frequency in Hz, so keys from both sides of 30 MHz never collide).
"""

import numpy as np

HF_EDGE_HZ = 30_000_000
HF_CHANNEL_HZ = 3_000
VHF_CHANNEL_HZ = 12_500
HF_SEGMENT_HZ = 25_000
VHF_SEGMENT_HZ = 250_000


def _snap(frequency_hz, hf_step: int, vhf_step: int):
    frequency = np.asarray(frequency_hz, dtype=np.int64)
    step = np.where(frequency < HF_EDGE_HZ, hf_step, vhf_step)
    snapped = ((frequency + step // 2) // step) * step
    return int(snapped) if snapped.ndim == 0 else snapped


def channel_of(frequency_hz, *, hf_step: int = HF_CHANNEL_HZ, vhf_step: int = VHF_CHANNEL_HZ):
    """The centre (Hz) of the channel `frequency_hz` falls in (int or int64 array)."""
    return _snap(frequency_hz, hf_step, vhf_step)


def segment_of(frequency_hz, *, hf_step: int = HF_SEGMENT_HZ, vhf_step: int = VHF_SEGMENT_HZ):
    """The centre (Hz) of the band segment `frequency_hz` falls in (int or int64 array)."""
    return _snap(frequency_hz, hf_step, vhf_step)
