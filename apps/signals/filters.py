"""Query parameters of the statistics endpoints, as strict forms (apps.core.filters).

The detection list's own filters are `apps.signals.queries.DetectionFilterForm`
(next to the precompiled SQL they feed).
"""

from django import forms

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.filters import choice_field
from apps.signals.statistics import (
    GRANULARITIES,
    MAX_FREQUENCY_BINS,
    MAX_TIME_BUCKETS,
    TIME_PERIODS,
)


class SummaryForm(forms.Form):
    time_period = choice_field(list(TIME_PERIODS), help_text="Window ending now (default 24h)")

    def clean_time_period(self):
        return self.cleaned_data["time_period"] or "24h"


class FrequencyUsageForm(forms.Form):
    frequency_min = forms.IntegerField(min_value=0, max_value=MAX_FREQUENCY_HZ)
    frequency_max = forms.IntegerField(min_value=0, max_value=MAX_FREQUENCY_HZ)
    time_period = choice_field(list(TIME_PERIODS), help_text="Window ending now (default 24h)")
    granularity = choice_field(list(GRANULARITIES), help_text="Time bucket (default 1h)")
    bin_width_hz = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_FREQUENCY_HZ,
        help_text=f"Frequency bin width (default: ten bins; at most {MAX_FREQUENCY_BINS} bins)",
    )

    def clean(self):
        cleaned = super().clean()
        cleaned["time_period"] = cleaned.get("time_period") or "24h"
        cleaned["granularity"] = cleaned.get("granularity") or "1h"
        low, high = cleaned.get("frequency_min"), cleaned.get("frequency_max")
        if low is None or high is None:
            return cleaned
        if high < low:
            self.add_error("frequency_max", "must not be below frequency_min")
            return cleaned
        span = high - low
        width = cleaned.get("bin_width_hz") or max(1, -(-span // 10))  # default: ten bins
        cleaned["bin_width_hz"] = width
        if -(-span // width) > MAX_FREQUENCY_BINS:
            self.add_error(
                "bin_width_hz", f"gives more than {MAX_FREQUENCY_BINS} bins over the range"
            )
        buckets = (
            TIME_PERIODS[cleaned["time_period"]].total_seconds()
            / GRANULARITIES[cleaned["granularity"]]
        )
        if "granularity" not in self.errors and buckets > MAX_TIME_BUCKETS:
            self.add_error(
                "granularity",
                f"too fine for {cleaned['time_period']}: over {MAX_TIME_BUCKETS} buckets",
            )
        return cleaned
