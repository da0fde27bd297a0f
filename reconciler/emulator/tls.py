"""A throwaway certificate authority so the emulator speaks real, verified HTTPS."""

from __future__ import annotations

import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class EmulatorTls:
    """The server's SSL context and the CA file clients must trust."""

    context: ssl.SSLContext
    ca_path: Path
    workdir: Path

    def cleanup(self) -> None:
        """Remove the temporary folder holding the CA file."""
        shutil.rmtree(self.workdir, ignore_errors=True)


def make_tls(*hosts: str) -> EmulatorTls:
    """Issue a server certificate for ``hosts`` from a fresh CA written to a temp file."""
    ca = trustme.CA()
    leaf = ca.issue_cert(*(hosts or ("127.0.0.1", "localhost")))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    workdir = Path(tempfile.mkdtemp(prefix="aks-emulator-"))
    ca_path = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    return EmulatorTls(context=context, ca_path=ca_path, workdir=workdir)
