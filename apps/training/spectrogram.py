"""Mel spectrograms of complex I/Q clips, in plain torch.

Audio mel spectrograms are one-sided; a complex baseband clip has different
content above and below the carrier (USB and LSB differ only in that), so the
spectrum here is two-sided (fftshifted) and the mel scale is mirrored about
0 Hz: triangular filters equally spaced in sign(f)·mel(|f|), fine near the
carrier and coarse towards ±fs/2. mel(f) = 2595·log10(1 + f/700) (HTK).
"""

import numpy as np
import torch

from apps.training.convnext import MIN_INPUT


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.abs(f) / 700.0) * np.sign(f)


def _mel_inverse(m):
    return 700.0 * (10 ** (np.abs(m) / 2595.0) - 1.0) * np.sign(m)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: float) -> np.ndarray:
    """[n_mels, n_fft] triangular filters over the fftshifted two-sided spectrum."""
    bin_hz = (np.arange(n_fft) - n_fft // 2) * sample_rate / n_fft
    edges = _mel_inverse(np.linspace(_mel(-sample_rate / 2), _mel(sample_rate / 2), n_mels + 2))
    bank = np.zeros((n_mels, n_fft))
    for index in range(n_mels):
        low, centre, high = edges[index : index + 3]
        rising = (bin_hz - low) / max(centre - low, 1e-9)
        falling = (high - bin_hz) / max(high - centre, 1e-9)
        bank[index] = np.clip(np.minimum(rising, falling), 0.0, None)
        if not bank[index].any():  # narrower than a bin: take the nearest bin
            bank[index, np.argmin(np.abs(bin_hz - centre))] = 1.0
    return bank


def log_mel(
    clips: np.ndarray, *, n_mels: int, n_fft: int, hop_length: int, sample_rate: float,
    batch: int = 512,
) -> torch.Tensor:  # fmt: skip
    """[N, 1, n_mels, frames] log-mel power (dB) of complex clips [N, samples].

    Both axes are stretched (bilinear) to at least 32, the network's total
    downsampling, when the settings give fewer bins or frames.
    """
    bank = torch.from_numpy(mel_filterbank(n_mels, n_fft, sample_rate)).float()
    window = torch.hann_window(n_fft)
    out = []
    for start in range(0, len(clips), batch):
        x = torch.from_numpy(np.ascontiguousarray(clips[start : start + batch])).to(torch.complex64)
        spectrum = torch.stft(
            x, n_fft, hop_length=hop_length, window=window, center=True, return_complex=True
        )  # [B, n_fft, frames], two-sided for complex input
        power = torch.fft.fftshift(spectrum, dim=1).abs() ** 2
        mel = 10.0 * torch.log10(torch.einsum("mf,bft->bmt", bank, power) + 1e-10)
        out.append(mel.unsqueeze(1))
    features = torch.cat(out)
    height, width = features.shape[-2:]
    if height < MIN_INPUT or width < MIN_INPUT:
        features = torch.nn.functional.interpolate(
            features, size=(max(height, MIN_INPUT), max(width, MIN_INPUT)), mode="bilinear"
        )
    return features
