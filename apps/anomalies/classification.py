"""What an anomalous detection means for an operator: severity, event type, description.

Severity bands (on the anomaly score, 0-1; docs/signals.md):
    score < 0.70 → low, < 0.85 → medium, < 0.95 → high, else critical.
"""

SEVERITY_BANDS = [(0.70, "low"), (0.85, "medium"), (0.95, "high")]

# Widest occupied bandwidth expected on HF for voice/data; wider is unusual there.
HF_MAX_NORMAL_BANDWIDTH_HZ = 12_000
HF_UPPER_EDGE_HZ = 30_000_000

EVENT_DESCRIPTIONS = {
    "out_of_band_carrier": "Carrier outside the station's coverage",
    "unexpected_modulation": "Detected unexpected modulation",
    "power_jump": "Sudden jump in signal power",
    "unusual_signal_pattern": "Detected unusual signal pattern",
    # The context model's reasons (apps.ml.context)
    "new_carrier": "New carrier",
    "off_hour_activity": "Activity at an unusual hour",
    "wideband_emission": "Wideband emission",
}
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def severity_for(score: float) -> str:
    for upper, name in SEVERITY_BANDS:
        if score < upper:
            return name
    return "critical"


def event_type_for(row: dict, station_range: tuple[int, int] | None) -> str:
    """The most specific reason the detection is unusual.

    The scorer or collector may name it (`processing_metadata.anomaly_reason`);
    otherwise it is read from the detection against its station.
    """
    reason = (row.get("processing_metadata") or {}).get("anomaly_reason")
    if reason in EVENT_DESCRIPTIONS:
        return reason
    frequency = row["frequency_hz"]
    if station_range and not station_range[0] <= frequency <= station_range[1]:
        return "out_of_band_carrier"
    modulation = row.get("modulation_type") or ""
    bandwidth = row.get("bandwidth_hz") or 0
    if frequency < HF_UPPER_EDGE_HZ and (
        modulation in {"WFM", "OFDM"} or bandwidth > HF_MAX_NORMAL_BANDWIDTH_HZ
    ):
        return "unexpected_modulation"
    return "unusual_signal_pattern"


def describe(event_type: str, row: dict) -> str:
    """ "<what> on <MHz> at <station>", then the scorer's own words when it gave them
    (`processing_metadata.anomaly_description`, e.g. "FM in an SSB segment")."""
    mhz = row["frequency_hz"] / 1e6
    text = f"{EVENT_DESCRIPTIONS[event_type]} on {mhz:.3f} MHz at {row['websdr_station_id']}"
    said = (row.get("processing_metadata") or {}).get("anomaly_description")
    if isinstance(said, str) and said:
        return f"{text}: {said}"[:500]
    modulation = row.get("modulation_type")
    if event_type == "unexpected_modulation" and modulation:
        text += f" ({modulation}, {row.get('bandwidth_hz') or 0} Hz wide)"
    return text
