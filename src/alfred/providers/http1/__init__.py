"""Alfred's own HTTP/1.1 client for upstream calls: keep-alive connections parsed with httptools.

aiohttp's client spent more of a pass-through request's CPU than any of Alfred's own frames
(request objects, header multidicts, payload registries, tracing hooks); this one writes a request
in one ``write`` and parses the answer in C, and does nothing else. See ``client.Http1Client``.
"""

from alfred.providers.http1.client import Http1Client, Http1Response
from alfred.providers.http1.errors import Http1ConnectError, Http1Error

__all__ = ["Http1Client", "Http1ConnectError", "Http1Error", "Http1Response"]
