"""A localization as the API and the live feed show it (one shape for both)."""

from apps.core.timeutil import isoformat_z


def localization_payload(localization) -> dict:
    """The stored localization as `GET /api/v1/localizations/{id}` returns it."""
    return {
        "id": str(localization.id),
        "constellation_id": str(localization.constellation_id),
        "frequency_hz": localization.frequency_hz,
        "latitude": localization.latitude,
        "longitude": localization.longitude,
        "uncertainty": {
            "cep50_m": localization.cep50_m,
            "cep95_m": localization.cep95_m,
            "ellipse": {
                "semi_major_m": localization.ellipse_semi_major_m,
                "semi_minor_m": localization.ellipse_semi_minor_m,
                "orientation_deg": localization.ellipse_orientation_deg,
            },
        },
        "gdop": localization.gdop,
        "method": localization.method,
        "model_id": str(localization.model_id) if localization.model_id else None,
        "model_version": localization.model_version or None,
        "tx_power_dbm": localization.tx_power_dbm,
        "tx_power_estimated": localization.tx_power_estimated,
        "receivers_used": list(localization.receivers_used),
        "residuals_db": dict(localization.residuals_db),
        "warnings": list(localization.warnings),
        "detection_ids": list(localization.detection_ids),
        "reference_transmitter_id": (
            str(localization.reference_transmitter_id)
            if localization.reference_transmitter_id
            else None
        ),
        "trigger": localization.trigger,
        "observed_from": isoformat_z(localization.observed_from),
        "observed_until": isoformat_z(localization.observed_until),
        "created_by": str(localization.created_by_id) if localization.created_by_id else None,
        "created_at": isoformat_z(localization.created_at),
    }
