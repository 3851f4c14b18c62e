"""A TLS front for a plain-HTTP server on loopback: production mode wants https public URLs.

The front only unwraps TLS and pipes bytes to the server, as a load balancer terminating TLS
does; the browser is told to accept the self-signed certificate.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a certificate and key for 127.0.0.1 into `folder`; return their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls-cert.pem", folder / "tls-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def _serve_one(client: ssl.SSLSocket, backend_port: int) -> None:
    with client, contextlib.suppress(OSError):
        client.do_handshake()
        with socket.create_connection(("127.0.0.1", backend_port), timeout=30) as backend:
            back = threading.Thread(target=_pipe, args=(backend, client), daemon=True)
            back.start()
            _pipe(client, backend)
            back.join(timeout=30)


@contextlib.contextmanager
def tls_front(backend_port: int, folder: Path) -> Iterator[str]:
    """Serve https on a free loopback port in front of `backend_port`; yield its base URL."""
    cert_path, key_path = self_signed_certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    # close() from another thread does not wake a blocked accept(): poll a stop flag instead.
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(None)
            client = context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            threading.Thread(target=_serve_one, args=(client, backend_port), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
