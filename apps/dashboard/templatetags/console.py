"""Template helpers for the console."""

from django import template

register = template.Library()


@register.filter
def hz(value) -> str:
    """14235000 → "14.2350 MHz"."""
    if value is None:
        return "–"
    value = int(value)
    for unit, scale in (("GHz", 1e9), ("MHz", 1e6), ("kHz", 1e3)):
        if value >= scale:
            return f"{value / scale:.4f} {unit}"
    return f"{value} Hz"


@register.filter
def heat(share: float) -> str:
    """A cell's background for a 0–1 share: white → deep blue (CSS colour)."""
    share = max(0.0, min(1.0, float(share or 0)))
    light = round(97 - 55 * share)
    return f"hsl(214, 70%, {light}%)"


@register.filter
def percent(value) -> str:
    if value is None:
        return "–"
    return f"{100 * float(value):.1f} %"
