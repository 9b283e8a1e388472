"""ASGI entry point: HTTP through Django, WebSockets through channels.

The Django app is built first (it sets up the app registry), then the
WebSocket routes of each app are wrapped, outermost first, in: transport
flow control (apps.core.websocket), the client address rule
(apps.core.proxies: forwarded headers only from HEIMDALL_TRUSTED_PROXIES),
and Heimdall's auth middleware. daphne's --proxy-headers is refused.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.accounts.websocket_auth import HeimdallWebSocketAuth  # noqa: E402
from apps.collectors.embedded import start_embedded_collectors  # noqa: E402
from apps.core.daphne_errors import envelope_daphne_errors  # noqa: E402
from apps.core.daphne_requests import (  # noqa: E402
    accept_absolute_form_targets,
    let_django_parse_request_bodies,
)
from apps.core.memory import freeze_startup_objects  # noqa: E402
from apps.core.proxies import (  # noqa: E402
    ClientAddressASGI,
    ignore_client_root_path,
    refuse_daphne_proxy_headers,
)
from apps.core.scheduling import start_inprocess_scheduler  # noqa: E402
from apps.core.websocket import FlowControlASGI  # noqa: E402
from apps.core.websocket_outages import websocket_outage_guard  # noqa: E402
from heimdall.routing import websocket_urlpatterns  # noqa: E402

refuse_daphne_proxy_headers()
ignore_client_root_path()  # Daphne-Root-Path is a proxy's word, not a client's
let_django_parse_request_bodies()  # multipart bodies: Django streams them, Twisted must not
accept_absolute_form_targets()  # GET http://host/path HTTP/1.1 (RFC 9112 §3.2.2)
envelope_daphne_errors()  # daphne's own 400/500/503 pages as the JSON envelope

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Outermost: flow control needs daphne's own `send`. An unreachable database or
        # Redis closes a socket with 4503, never 1011.
        "websocket": FlowControlASGI(
            websocket_outage_guard(
                ClientAddressASGI(HeimdallWebSocketAuth(URLRouter(websocket_urlpatterns)))
            )
        ),
    }
)

# Before the embedded threads start: what is alive now lives as long as the process.
freeze_startup_objects()

if settings.HEIMDALL_TASK_BACKEND == "inprocess":
    start_inprocess_scheduler()  # embedded mode: no qcluster runs the schedules
if settings.HEIMDALL_EMBEDDED_COLLECTORS:
    start_embedded_collectors()  # embedded mode: no `collect` process runs
