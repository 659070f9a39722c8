"""How a redirect to another host keeps going through the proxy (or the replay server).

The upload's ``POST /v1/files`` answers 302 with a presigned URL on a storage host (S3, R2);
the client then PUTs the bytes there with no Authorization. A proxy that passed the Location
through unchanged would miss that PUT, and a replay would send the client to a host it cannot
reach. So the Location is rewritten to come back to us with the original origin in the path:

    https://bucket.s3.amazonaws.com/a/b?X-Amz-Signature=…
    → http://127.0.0.1:8000/_upstream/https/bucket.s3.amazonaws.com/a/b?X-Amz-Signature=…

and a request under ``/_upstream/{scheme}/{netloc}`` is forwarded to that origin. A Location on
the target's own origin becomes the same path on the proxy; a relative one is left alone (the
client resolves it against the proxy already). The cassette keeps the Location the upstream sent
(its secrets redacted), so replaying it can rewrite it again for the replay server's address.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["UPSTREAM_PREFIX", "origin_of", "split_upstream", "through"]

UPSTREAM_PREFIX = "/_upstream"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, the default port left out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
    return f"{scheme}://{host}{port}"


def through(location: str, *, base: str, target: str) -> str:
    """The URL a client should follow for an upstream ``location``, given our own ``base``."""
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return location
    rest = parts.path or "/"
    if parts.query:
        rest += f"?{parts.query}"
    base = base.rstrip("/")
    if origin_of(location) == origin_of(target):
        return f"{base}{rest}"
    return f"{base}{UPSTREAM_PREFIX}/{parts.scheme.lower()}/{parts.netloc}{rest}"


def split_upstream(path: str) -> tuple[str, str] | None:
    """``/_upstream/https/host:443/a/b`` → ``("https://host:443", "/a/b")``; None otherwise."""
    if not path.startswith(UPSTREAM_PREFIX + "/"):
        return None
    scheme, _, rest = path[len(UPSTREAM_PREFIX) + 1 :].partition("/")
    netloc, slash, tail = rest.partition("/")
    if scheme not in ("http", "https") or not netloc:
        return None
    return origin_of(f"{scheme}://{netloc}"), slash + tail if slash else "/"
