"""Embedded mode (nothing configured): the collectors run inside the web process."""

import asyncio
import threading

from apps.collectors.runner import supervise


def start_embedded_collectors() -> None:
    """Run the station collectors on a daemon thread with its own event loop."""

    def run():
        asyncio.run(supervise(asyncio.Event()))

    threading.Thread(target=run, name="heimdall-collectors", daemon=True).start()
