"""Outbound HTTPS verifies certificates; [security] ca_bundle trusts a private CA."""

from __future__ import annotations

import datetime
import ipaddress

import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ocnd.testing import MockParty


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = tmp_path / "party-cert.pem"
    path.write_bytes(cert_pem)
    return cert_pem, key_pem, str(path)


async def tls_party(reactor, cert_pem, key_pem) -> MockParty:
    from twisted.internet import ssl

    from ocnd.testing import _TrackingSite

    party = MockParty(reactor, token_b="tls-token-b")
    party.site = _TrackingSite(party.app.resource())
    options = ssl.PrivateCertificate.loadPEM(cert_pem + key_pem).options()
    party.port = reactor.listenSSL(0, party.site, options, interface="127.0.0.1")
    party.base = f"https://127.0.0.1:{party.port.getHost().port}"
    return party


@pytest_twisted.ensureDeferred
async def test_self_signed_party_refused_then_trusted_with_ca_bundle(nodes, tmp_path):
    from twisted.internet import reactor

    cert_pem, key_pem, cert_path = self_signed(tmp_path)
    party = await tls_party(reactor, cert_pem, key_pem)
    try:
        default = await nodes()
        code, env, _ = await default.register(party.credentials([party.role_object()]))
        assert code == 200 and env["status_code"] == 3001, env
        assert party.versions_url in env["status_message"]
        assert "certificate" in env["status_message"].lower(), env
        assert party.received == []

        trusting = await nodes(OCND_SECURITY_CA_BUNDLE=cert_path)
        code, env, _ = await trusting.register(party.credentials([party.role_object()]))
        assert env["status_code"] == 1000, env

        # the same through the SSRF guard's pinned connections (hostname still verified)
        party.received.clear()
        guarded = await nodes(OCND_SECURITY_CA_BUNDLE=cert_path, OCND_SECURITY_ALLOW_PRIVATE_PARTY_URLS="false",
                              OCND_SECURITY_ALLOWED_PARTY_NETWORKS="127.0.0.1")
        code, env, _ = await guarded.register(party.credentials([party.role_object()]))
        assert env["status_code"] == 1000, env
        assert [r.path for r in party.received] == ["/ocpi/versions", "/ocpi/2.2"]
    finally:
        await party.stop()
