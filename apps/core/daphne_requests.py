"""Let Django, not Twisted, read request bodies under daphne.

daphne's `WebRequest` is a `twisted.web.http.Request`, which by default parses every
`multipart/form-data` and urlencoded POST body into `request.args` before daphne hands
the request to Django (twisted/web/http.py, `Request.requestReceived`): the whole body
is read into memory (a 2 GB SigMF upload would be held in RAM, then parsed by the
`email` package), and a body Twisted cannot parse is answered with a bare
`HTTP/1.1 400 Bad Request` and no body, no envelope, no X-Request-ID (found by
`make fuzz`: `POST /api/v1/recordings` with an empty multipart body). daphne never uses
`request.args`; Django parses the body itself, streaming files to disk (upload handlers)
and answering bad input in the envelope. Twisted's own switch for this is the
`parsePOSTFormSubmission` argument (Twisted ≥ 23.10); daphne does not pass it, so it is
turned off here, once, when heimdall.asgi is imported by daphne.
"""

_done = False


def let_django_parse_request_bodies() -> None:
    global _done
    if _done:
        return
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # not under daphne (runserver, tests' ASGI clients)
        return
    original = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    _done = True
