"""TLS for the channels: the client context that trusts exactly a configured CA bundle, the
settings check that the bundle loads, and finding a certificate failure in an error chain."""

from __future__ import annotations

import ssl
from pathlib import Path


def ca_bundle_context(path: Path, setting: str = "ca_file") -> ssl.SSLContext:
    """A client TLS context that trusts exactly the CA certificates of the PEM file ``path``.

    (Not the system's CAs: the bundle replaces them.) ``ValueError`` naming ``setting`` when
    the file is missing, unreadable or holds no usable certificate.
    """
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ValueError(f"{setting}: {path} {what}")
    try:
        return ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:
        raise ValueError(f"{setting}: {path} is not a PEM CA bundle "
                         f"({exc.reason or exc})") from exc
    except OSError as exc:
        raise ValueError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from exc


def loadable_ca_bundle(value: Path | None) -> Path | None:
    """A ``ca_file`` validator: refuse at start a bundle the channel could not load when it
    first sends."""
    if value is not None:
        ca_bundle_context(value)
    return value


def certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error somewhere in ``exc``'s chain of causes, if any
    (the channels turn it into a retryable error that says which setting to fix)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
