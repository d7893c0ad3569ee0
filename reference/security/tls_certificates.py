"""What a certificate chain says, field by field, for the chapter to show.

Theory of operation
-------------------
A certificate binds a public key to names, for a time, under the
signature of an issuer. A chain lists them leaf first: the server's (or
client's) own certificate, then each intermediate CA, up to one signed
by a root the verifier already trusts. `describe_chain` reads PEM text
with `cryptography.x509` and returns, for each certificate, the fields a
verifier looks at: subject, issuer, the validity window, the subject
alternative names (SAN, where host names live: RFC 6125 says to check
those, not the common name) and whether it may issue certificates
itself. Each certificate's issuer is the next one's subject; that is
the chain.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtensionOID


@dataclass(frozen=True)
class CertificateFacts:
    """The fields of one certificate that verification reads."""

    subject: str
    issuer: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    alternative_names: tuple[str, ...]
    is_ca: bool


def describe_chain(pem: bytes | str) -> list[CertificateFacts]:
    """Every certificate in `pem` (one or more PEM blocks), in order."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    return [
        describe_certificate(certificate) for certificate in x509.load_pem_x509_certificates(data)
    ]


def describe_certificate(certificate: x509.Certificate) -> CertificateFacts:
    return CertificateFacts(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        alternative_names=_alternative_names(certificate),
        is_ca=_is_ca(certificate),
    )


def _alternative_names(certificate: x509.Certificate) -> tuple[str, ...]:
    try:
        extension = certificate.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        )
    except x509.ExtensionNotFound:
        return ()
    return tuple(f"{type(name).__name__}:{name.value}" for name in extension.value)


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False
