"""The guard in front of both kinds of app: what one request may send and how long it may take
(``core/limits.py`` holds the numbers).

Two layers, because a request reaches the app only once its headers are in:

- ``middleware``: an ASGI middleware, outermost in ``create_app``. A body past its limit is a 413
  before a byte of it is read (its ``content-length``) or as soon as it goes past (a chunked
  one); a body that stops arriving is a 408. Both in Together's body.
- ``protocol``: uvicorn's httptools protocol with what it lacks: a limit on the request line and
  headers (431), a deadline for them (408), an idle timeout for a connection that never sends
  one, and a connection cap under the file-descriptor limit. ``server_options`` is what
  ``serve`` passes to ``uvicorn.run``.
"""
