"""Demo stations: real public receivers with their real locations and coverage.

Their collectors run `simulated` in the demo (this install may have no
internet access); `real_api_type` says which protocol client reaches the real
receiver, for operators who switch a station over.
"""

DEMO_STATIONS = [
    # HF WebSDRs (PA3FWM's WebSDR software), northwestern Europe.
    {
        "id": "twente-nl",
        "name": "University of Twente WebSDR",
        "url": "http://websdr.ewi.utwente.nl:8901/",
        "location": "Enschede, Netherlands",
        "latitude": 52.2387,
        "longitude": 6.8509,
        "frequency_min": 0,
        "frequency_max": 29_000_000,
        "real_api_type": "http_streaming",
    },
    {
        "id": "hackgreen-uk",
        "name": "Hack Green WebSDR",
        "url": "http://hackgreensdr.org:8901/",
        "location": "Nantwich, United Kingdom",
        "latitude": 53.0377,
        "longitude": -2.5158,
        "frequency_min": 0,
        "frequency_max": 30_000_000,
        "real_api_type": "http_streaming",
    },
    {
        "id": "maasbree-nl",
        "name": "WebSDR Maasbree",
        "url": "http://sdr.websdrmaasbree.nl:8901/",
        "location": "Maasbree, Netherlands",
        "latitude": 51.3606,
        "longitude": 6.0469,
        "frequency_min": 0,
        "frequency_max": 30_000_000,
        "real_api_type": "http_streaming",
    },
    # VHF/UHF OpenWebRX receivers in Piedmont and Liguria (2 m and 70 cm),
    # the localization network of seed 000's default area.
    {
        "id": "giaveno-it",
        "name": "Aquila di Giaveno",
        "url": "http://sdr1.ik1jns.it:8076/",
        "location": "Giaveno, Italy",
        "latitude": 45.02,
        "longitude": 7.29,
    },
    {
        "id": "montanaro-it",
        "name": "Montanaro",
        "url": "http://cbfenis.ddns.net:43510/",
        "location": "Montanaro, Italy",
        "latitude": 45.234,
        "longitude": 7.857,
    },
    {
        "id": "torino-it",
        "name": "Torino",
        "url": "http://vst-aero.it:8073/",
        "location": "Torino, Italy",
        "latitude": 45.044,
        "longitude": 7.672,
    },
    {
        "id": "coazze-it",
        "name": "Coazze",
        "url": "http://94.247.189.130:8076/",
        "location": "Coazze, Italy",
        "latitude": 45.03,
        "longitude": 7.27,
    },
    {
        "id": "passo-giovi-it",
        "name": "Passo dei Giovi",
        "url": "http://iz1mlt.ddns.net:8074/",
        "location": "Passo dei Giovi, Italy",
        "latitude": 44.561,
        "longitude": 8.956,
    },
    {
        "id": "genova-it",
        "name": "Genova",
        "url": "http://iq1zw.ddns.net:42154/",
        "location": "Genova, Italy",
        "latitude": 44.395,
        "longitude": 8.956,
    },
    {
        "id": "milano-it",
        "name": "Milano Baggio",
        "url": "http://iu2mch.duckdns.org:8073/",
        "location": "Milano (Baggio), Italy",
        "latitude": 45.478,
        "longitude": 9.123,
    },
]

# Where each demo collector listens: busy amateur segments of the station's bands.
DIAL_FREQUENCIES = {
    "twente-nl": 14_200_000,
    "hackgreen-uk": 7_100_000,
    "maasbree-nl": 3_650_000,
    "giaveno-it": 145_500_000,
    "montanaro-it": 145_500_000,
    "torino-it": 433_500_000,
    "coazze-it": 145_500_000,
    "passo-giovi-it": 144_800_000,
    "genova-it": 433_500_000,
    "milano-it": 145_500_000,
}

_VHF_UHF = {
    "frequency_min": 144_000_000,
    "frequency_max": 440_000_000,
    "real_api_type": "openwebrx",
}


def demo_station_rows() -> list[dict]:
    rows = []
    for entry in DEMO_STATIONS:
        row = {**_VHF_UHF, **entry} if "frequency_min" not in entry else dict(entry)
        real_api_type = row.pop("real_api_type")
        row["api_config"] = {
            "api_type": "simulated",
            "poll_interval": 1.0,
            "timeout": 30,
            "frequency_hz": DIAL_FREQUENCIES[row["id"]],
        }
        row["real_api_type"] = real_api_type
        rows.append(row)
    return rows
