"""Which samples a job trains on (numpy only: the data-check runs in the web process).

- signal classification: clips whose SNR reaches the config's `min_snr_db`;
  NOISE clips (no signal, so no SNR) always count;
- localization: receivers below `min_snr_db` are not heard (masked like
  padding); a sample counts when MIN_RECEIVERS receivers are heard.
"""

import numpy as np

MIN_RECEIVERS = 3  # a position needs three ranges


def trainable_clips(
    labels: np.ndarray,
    snr_db: np.ndarray,
    classes: list[str],
    min_snr_db: float,
    approved: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the clips a job with `min_snr_db` trains on; with `approved` (a
    recordings dataset, when the job says `only_approved`) approved clips only."""
    noise = classes.index("NOISE") if "NOISE" in classes else -1
    keep = (snr_db >= min_snr_db) | (labels == noise)
    if approved is not None:
        keep &= approved.astype(bool)
    return np.flatnonzero(keep)


def heard_mask(arrays: dict, min_snr_db: float) -> np.ndarray:
    """Receivers that count: present and at or above `min_snr_db` (SNR is feature 3)."""
    snr = np.nan_to_num(arrays["receivers"][..., 3], nan=-np.inf)
    return arrays["mask"] & (snr >= min_snr_db)
