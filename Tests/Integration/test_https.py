"""Issue 11 acceptance: HTTPS, tested for real. The emulator serves TLS (`cognito-auth emulator
--tls`, the system OpenSSL) with certificates this module makes with `cryptography`: its own CA, a
leaf for localhost/127.0.0.1, a leaf for another host name, an expired leaf. Sign-ins go through the
real PAM stack (pamtester under pam_wrapper, the built module and helper, libcurl verifying the
chain), and `cognito-auth doctor` checks discovery, JWKS and the clock over the same HTTPS."""
import datetime
import ipaddress
import itertools
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness import (ALICE, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS, Emulator, PamSetup, kv_fields, pam_result,
                     sample_pool, sign_in_through_pam)
# doctor's own harness (a test sshd_config, a test pam.d and the host key `sshd -T` needs).
from test_cli import GOOD_SSHD, doctor, host_key, marks, pam_dir, sshd_config  # noqa: F401 (host_key: a fixture)

_rhost = itertools.count(1)

# What libcurl (OpenSSL) says about each broken chain; the audit detail and doctor must name it.
UNKNOWN_ISSUER = "SSL certificate problem: unable to get local issuer certificate"
WRONG_HOST = "SSL: no alternative certificate subject name matches target host name '127.0.0.1'"
EXPIRED = "SSL certificate problem: certificate has expired"


def rhost():
    return f"203.0.113.{next(_rhost)}"


# ---------------------------------------------------------------- certificates

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)       # root-owned, not group/world-writable: what ca_file must be
    return path


class PKI:
    """A CA and leaves it issued, as PEM files in `directory`."""

    def __init__(self, directory, ca_name="cognito-auth itest CA"):
        self.dir = directory
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = (x509.CertificateBuilder()
                        .subject_name(_name(ca_name)).issuer_name(_name(ca_name))
                        .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                        .not_valid_before(now - datetime.timedelta(days=1))
                        .not_valid_after(now + datetime.timedelta(days=30))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                     key_encipherment=False, data_encipherment=False,
                                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                     encipher_only=False, decipher_only=False), critical=True)
                        .sign(self.ca_key, hashes.SHA256()))
        safe = ca_name.replace(" ", "-")
        self.ca = _write(os.path.join(directory, f"{safe}.pem"), self.ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(self, label, dns=("localhost",), ips=("127.0.0.1",), expired=False):
        """(certificate file, key file) for a server certificate naming `dns` and `ips`."""
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            valid = (now - datetime.timedelta(days=10), now - datetime.timedelta(days=1))
        else:
            valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7))
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(_name(dns[0] if dns else ips[0])).issuer_name(self.ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(valid[0]).not_valid_after(valid[1])
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        cert_path = _write(os.path.join(self.dir, f"{label}.pem"), cert.public_bytes(serialization.Encoding.PEM))
        key_path = os.path.join(self.dir, f"{label}.key")
        _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        os.chmod(key_path, 0o600)
        return cert_path, key_path


@pytest.fixture(scope="module")
def pki(workdir):
    d = os.path.join(workdir, "pki")
    os.mkdir(d, 0o755)
    return PKI(d)


@pytest.fixture(scope="module")
def emulator(pki, redirect_uris):
    """HTTPS on 127.0.0.1 with a certificate for localhost and 127.0.0.1 from the test CA; the
    admin calls and the browser verify it against that CA too."""
    with sample_pool(redirect_uris, tls=pki.leaf("localhost"), verify=pki.ca) as e:
        yield e


# The emulators with broken certificates need no users: every login against them ends at discovery
# (and nothing here talks to them without verifying).

@pytest.fixture(scope="module")
def wrong_host_emulator(pki, redirect_uris):
    """A certificate from the same CA, but for another host name only."""
    e = Emulator(redirect_uris, tls=pki.leaf("elsewhere", dns=("idp.elsewhere.example",), ips=()), verify=pki.ca)
    yield e
    e.stop()


@pytest.fixture(scope="module")
def expired_emulator(pki, redirect_uris):
    """The right names and CA, but expired yesterday."""
    e = Emulator(redirect_uris, tls=pki.leaf("expired", expired=True), verify=pki.ca)
    yield e
    e.stop()


def one_audit_line(syslog, marker):
    lines = syslog.audit_lines(marker)
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def assert_unavailable_naming(pam, syslog, problem):
    """A login that fails at discovery: no prompt, PAM_AUTHINFO_UNAVAIL, and an audit line that says why."""
    host = rhost()
    out = pam_result(pam.pamtester("alice", host))
    assert PAM_AUTHINFO_UNAVAIL in out and PAM_SUCCESS not in out, out
    assert "Redirect URL" not in out, out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("unavailable", "idp_unavailable"), a
    assert problem in a["detail"], a["detail"]
    return a


# ---------------------------------------------------------------- through the PAM stack

def test_emulator_advertises_https_urls(emulator):
    assert emulator.base.startswith("https://127.0.0.1:") and emulator.issuer.startswith(emulator.base + "/")


def test_sign_in_over_https_with_ca_file_is_admitted(workdir, emulator, pki, redirect_uris, accounts, syslog):
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config=f"ca_file = {pki.ca}\n")
    before = emulator.stats()
    host = rhost()

    def https_only(url):
        assert url.startswith(emulator.base + "/oauth2/authorize?"), url
    out = sign_in_through_pam(pam, "alice", ALICE, host, url_check=https_only)
    assert PAM_SUCCESS in out, out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"], a["email"]) == ("allowed", "ok", "alice", "alice@example.com")
    # Discovery, JWKS and the code exchange each really crossed TLS to this emulator.
    after = emulator.stats()
    for endpoint in ("discovery", "jwks", "token"):
        assert after[endpoint] > before[endpoint], (endpoint, before, after)


def test_without_ca_file_an_unknown_ca_is_unavailable(workdir, emulator, redirect_uris, accounts, syslog):
    pam = PamSetup(workdir, emulator, redirect_uris)
    a = assert_unavailable_naming(pam, syslog, UNKNOWN_ISSUER)
    assert emulator.base in a["detail"], a["detail"]


def test_ca_file_naming_another_ca_is_unavailable(workdir, emulator, redirect_uris, accounts, syslog):
    other = PKI(os.path.join(workdir, "pki"), ca_name="some other CA")
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config=f"ca_file = {other.ca}\n")
    assert_unavailable_naming(pam, syslog, UNKNOWN_ISSUER)


def test_certificate_for_another_host_name_is_unavailable(workdir, wrong_host_emulator, pki, redirect_uris, accounts, syslog):
    pam = PamSetup(workdir, wrong_host_emulator, redirect_uris, extra_config=f"ca_file = {pki.ca}\n")
    assert_unavailable_naming(pam, syslog, WRONG_HOST)


def test_expired_certificate_is_unavailable(workdir, expired_emulator, pki, redirect_uris, accounts, syslog):
    pam = PamSetup(workdir, expired_emulator, redirect_uris, extra_config=f"ca_file = {pki.ca}\n")
    assert_unavailable_naming(pam, syslog, EXPIRED)


def test_plain_http_to_the_https_emulator_is_unavailable(workdir, emulator, pki, redirect_uris, accounts, syslog):
    """The same port spoken to without TLS: the handshake is refused, never a half answer."""
    class Plain:
        issuer = emulator.issuer.replace("https://", "http://", 1)
        verify = True
    pam = PamSetup(workdir, Plain, redirect_uris, extra_config=f"ca_file = {pki.ca}\n")
    assert_unavailable_naming(pam, syslog, emulator.base.replace("https://", "http://", 1))


# ---------------------------------------------------------------- cognito-auth doctor over https

def test_doctor_over_https_with_ca_file_passes_the_idp_checks(workdir, host_key, emulator, pki, redirect_uris):
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config=f"ca_file = {pki.ca}\n")
    out, rc = doctor(pam.config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, pam.config))
    m = marks(out)
    for check in ("discovery", "JWKS", "clock"):
        assert m.get(check) == "✓", (check, out)
    assert f"✓ ca_file {pki.ca}" in out, out
    assert rc == 0, out


def test_doctor_over_https_without_ca_file_names_the_certificate_problem(workdir, host_key, emulator, redirect_uris):
    pam = PamSetup(workdir, emulator, redirect_uris)
    out, rc = doctor(pam.config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, pam.config))
    assert rc == 3, out
    line = next(l for l in out.splitlines() if l.startswith("✗ discovery:"))
    assert UNKNOWN_ISSUER in line, out
    assert "fix: check DNS, proxy, firewall and ca_file" in out
