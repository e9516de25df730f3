"""Whether the Hugging Face hub can be asked at all, answered in seconds.

Offline, the hub's own clients (``datasets``, ``transformers``, ``huggingface_hub``) retry with a
backoff for twenty-odd seconds before they give up or fall back to their cache, printing a retry line
each time. A face that names a hub dataset or model asks here first: under ``HF_HUB_OFFLINE`` (read
when asked, not when a library was imported) or when the hub's host does not answer a connection
within a few seconds, the caller reads its local cache only, or says in one sentence that it cannot.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

CHECK_TIMEOUT = 3.0
"""Seconds a connection to the hub's host may take before the hub counts as out of reach."""


def offline_mode() -> bool:
    """``HF_HUB_OFFLINE`` (or ``HF_DATASETS_OFFLINE``) is set to a true value now."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _endpoint():
    return urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


def host() -> str:
    """The host the hub is served from (``HF_ENDPOINT``, default huggingface.co)."""
    return _endpoint().hostname or "huggingface.co"


def reachable(timeout: float = CHECK_TIMEOUT) -> bool:
    """The hub's host accepts a connection within ``timeout`` seconds."""
    url = _endpoint()
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout).close()
    except OSError:
        return False
    return True


def local_only() -> bool:
    """Whether a hub download should read the local cache only: offline mode, or a hub out of reach."""
    return offline_mode() or not reachable()
