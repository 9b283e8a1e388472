from django.core.management.base import BaseCommand

from apps.stations.demo import demo_station_rows
from apps.stations.models import Station


class Command(BaseCommand):
    help = "Add the demo stations that are missing (existing stations are left as they are)."

    def handle(self, *args, **options):
        created = 0
        for row in demo_station_rows():
            row.pop("real_api_type")
            station_id = row.pop("id")
            _, was_created = Station.objects.get_or_create(id=station_id, defaults=row)
            created += was_created
        self.stdout.write(f"Demo stations: {created} added, {Station.objects.count()} in total.")
