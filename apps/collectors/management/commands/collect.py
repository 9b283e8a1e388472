import asyncio
import signal

from django.core.management.base import BaseCommand

from apps.collectors.runner import supervise
from apps.core.memory import freeze_startup_objects
from apps.core.numbers import argument_number


class Command(BaseCommand):
    help = (
        "Run one collector per active station (chosen by api_config.api_type) until stopped; "
        "new, changed and deactivated stations are picked up every few seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--station", action="append", dest="stations",
                            help="Only these station ids (repeatable).")  # fmt: skip
        parser.add_argument("--duration", type=argument_number(float, minimum=0.1, maximum=1e9),
                            help="Stop after this many seconds.")  # fmt: skip

    def handle(self, *args, **options):
        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            return await supervise(stop, station_ids=options["stations"],
                                   duration=options["duration"])  # fmt: skip

        freeze_startup_objects()  # a collector ingests for days: see apps.core.memory
        summary = asyncio.run(main())
        for station_id, counts in sorted(summary.items()):
            self.stdout.write(f"{station_id}: {counts}")
