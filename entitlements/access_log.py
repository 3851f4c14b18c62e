"""Access logs name the path, never the query string: sign-in links carry one-time secrets."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler

# gunicorn: %(U)s is the path without the query (%(r)s, the request line, would log the
# hand-off token); no header is logged either, so service keys never reach the log.
GUNICORN_ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'


class PathOnlyRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler (`demo run`), logging the path without its query string."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log the request as werkzeug does, with the query string cut off."""
        full = getattr(self, "path", None)
        if full is None:
            # A malformed request line: werkzeug logs the raw line; log nothing of it.
            self.log("info", '"%s" %s %s', "(malformed request line)", code, size)
            return
        # The WSGI environ was built before the response, so the path is free to shorten here.
        self.path = full.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            self.path = full
