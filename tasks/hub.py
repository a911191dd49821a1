"""The hub, and the `datasets` library that reads it and local files.

`datasets` is imported only when a loader needs it, with its progress bars and log off: a damaged
file gets the loader's own one-line error, not the library's log beside it. `hub_resolvable` is a
fast no before `datasets` spends half a minute retrying a host (or proxy) it cannot reach.
"""
from __future__ import annotations

import os
import socket
import urllib.request
from urllib.parse import urlsplit

PROXY_CONNECT_S = 3.0


def hub_resolvable(host: str = "huggingface.co") -> bool:
    """Can a request to the hub leave this machine? Through HTTPS_PROXY (unless NO_PROXY names the
    host), the proxy must accept a connection; without one, the host's name must resolve."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy and not urllib.request.proxy_bypass(host):
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            socket.create_connection((parts.hostname or "", port), timeout=PROXY_CONNECT_S).close()
            return True
        except (OSError, ValueError):  # refused, unresolvable, timed out; a bad port number
            return False
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def quiet_datasets():
    import logging

    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    logging.getLogger("huggingface_hub").setLevel(logging.CRITICAL)  # its HTTP retries log a line each
    return datasets


def innermost(exc: BaseException) -> BaseException:
    """The error at the bottom of a chain: datasets wraps the parser's own ("Expected 2 fields in line 102") or the
    disk's (no space left in its cache) in a DatasetGenerationError that says only that generating failed."""
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    return exc


def root_cause(exc: BaseException) -> str:
    """What went wrong, in one line (see innermost)."""
    exc = innermost(exc)
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
