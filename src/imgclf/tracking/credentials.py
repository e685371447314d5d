"""Credentials never travel inside the URI given to MLflow, which prints and logs it."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``http://me:secret@host:5000`` -> ``("http://host:5000", "me", "secret")``: MLflow
    prints its tracking URI after every run, so credentials go to it another way. Other
    URIs come back unchanged, with ``None`` twice."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.username is None:
        return uri, None, None
    host = parts.netloc.rpartition("@")[2]
    password = None if parts.password is None else unquote(parts.password)
    return urlunsplit(parts._replace(netloc=host)), unquote(parts.username), password


def mask_password(url: str) -> str:
    """``postgresql://me:secret@host/db`` -> ``postgresql://me:***@host/db``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
