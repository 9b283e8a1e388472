"""Collectors: one per active station, chosen by `api_config.api_type`.

Each turns the station's receiver output into chunks of samples; the shared
loop (apps.collectors.runner) analyses them, ingests the detections
through the same service as the REST API, and keeps the station's status,
last_seen and response times current.
"""
