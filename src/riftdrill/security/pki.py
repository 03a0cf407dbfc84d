"""A certificate authority per deploy, and the certificates it issues, all PEM.

Keys are EC P-256 (fast to make, read by Java's PEM keystore and by librdkafka). A broker's
certificate names its addresses as subject alternative names: clients verify the broker by the
address they dialled (ssl.endpoint.identification.algorithm=https, librdkafka's default too).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "riftdrill"
VALID_DAYS = 365  # a lab lives days; a new deploy makes a new authority


@dataclass(frozen=True)
class Issued:
    """A private key and its certificate, PEM (the key unencrypted PKCS#8: files are 0600)."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, unit: str = "") -> x509.Name:
    # RFC 4514 prints the last first: CN=<cn>,OU=<unit>,O=riftdrill, which the brokers'
    # ssl.principal.mapping.rules turn into the principal <cn>.
    rdns = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if unit:
        rdns.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    rdns.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(rdns)


def new_ca(common_name: str = "riftdrill lab CA", days: int = VALID_DAYS,
           now: datetime | None = None) -> Issued:
    key = _key()
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)  # clocks of namespaces agree; VMs may not
    subject = _name(common_name)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(key_pem=_key_pem(key), cert_pem=cert.public_bytes(serialization.Encoding.PEM))


def _san(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def issue(ca: Issued, common_name: str, *, unit: str = "", sans: Sequence[str] = (),
          server: bool = False, client: bool = True, days: int = VALID_DAYS,
          now: datetime | None = None) -> Issued:
    """A certificate signed by `ca`: a broker's (server and client: it also dials the other
    brokers and the controllers) names its addresses in `sans`; a client's needs none."""
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = ca.certificate
    key = _key()
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    builder = (x509.CertificateBuilder().subject_name(_name(common_name, unit))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                            key_agreement=True, content_commitment=False,
                                            data_encipherment=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(s) for s in sans]),
                                        critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(key_pem=_key_pem(key), cert_pem=cert.public_bytes(serialization.Encoding.PEM))


def keystore_pem(issued: Issued, ca: Issued) -> bytes:
    """Kafka's PEM keystore (ssl.keystore.type=PEM): the private key, then the chain."""
    return issued.key_pem + issued.cert_pem + ca.cert_pem


def sans_of(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n.value) for n in ext]
