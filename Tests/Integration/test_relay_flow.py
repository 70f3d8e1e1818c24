"""Issue 12 acceptance, end to end: `flow = relay` through the real PAM stack (pamtester under
pam_wrapper) and a real sshd, with the real cognito-auth-relay (memory store) between the helper and
the emulator playing Cognito, the person played on the relay's pages and the emulator's sign-in form,
and a real rsyslogd collecting the audit lines. The relay's own acceptance tests (PostgreSQL, two
instances, Chromium, lockout, single use) are test_relay.py."""
import itertools
import os
import time

import pytest

from harness import (ALICE, BOB, PAM_AUTH_ERR, PAM_SERVICE_ERR, PAM_SUCCESS, PamSetup, free_port, helper_processes,
                     pam_result, sample_pool, write_private)
from relay_harness import HOST_SECRET, Person, Postgres, Relay
from sshd_harness import Sshd
from test_device_flow import one_audit_line, read_device_prompt, ssh_device_sign_in, sshd_audit_line

_rhost = itertools.count(1)


def rhost():
    return f"198.51.100.{150 + next(_rhost)}"


@pytest.fixture(scope="module")
def relay_port():
    return free_port()


@pytest.fixture(scope="module")
def pg_relay_port():
    return free_port()


@pytest.fixture(scope="module")
def emulator(redirect_uris, relay_port, pg_relay_port):
    # Cognito's app client has the relays' callbacks registered, as README's relay install says.
    with sample_pool(redirect_uris + [f"http://127.0.0.1:{p}/callback" for p in (relay_port, pg_relay_port)]) as e:
        yield e


@pytest.fixture(scope="module")
def relay(workdir, emulator, relay_port):
    r = Relay(workdir, emulator, port=relay_port, name="flow-relay")
    try:
        yield r.start()
    finally:
        r.stop()


def relay_config(workdir, relay, secret=HOST_SECRET, name="relay-secret"):
    path = os.path.join(workdir, name)
    write_private(path, secret + "\n")
    return f"flow = relay\nrelay_url = {relay.base}\nrelay_secret_file = {path}\n"


@pytest.fixture(scope="module")
def pam(workdir, emulator, redirect_uris, accounts, syslog, relay):
    return PamSetup(workdir, emulator, redirect_uris, extra_config=relay_config(workdir, relay))


def relay_sign_in(pam, user, credentials, host):
    child = pam.pamtester(user, host)
    shown, uri, code, complete = read_device_prompt(child)
    page = Person().sign_in(complete, *credentials)
    assert page.status_code == 200 and "return to your terminal" in page.text.lower(), page.text[:300]
    signed_in = time.monotonic()
    child.sendline("")
    out = pam_result(child)
    return out, shown, uri, code, complete, time.monotonic() - signed_in


def test_alice_signs_in_at_the_relay(pam, syslog, relay):
    host = rhost()
    out, shown, uri, code, complete, waited = relay_sign_in(pam, "alice", ALICE, host)
    print(f"relay callback → PAM_SUCCESS after Enter: {waited:.2f} s")
    assert PAM_SUCCESS in out, out
    assert uri == relay.public_url + "/d" and complete == f"{uri}?code={code}"
    assert "as alice" in shown and f"request from {host}" in shown and "/oauth2/authorize" not in shown
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"], a["flow"]) == ("allowed", "ok", "alice", "relay")
    # What the relay logged holds no secret of the host's.
    assert HOST_SECRET not in relay.log() and "code_verifier" not in relay.log()


def test_bob_is_refused_by_policy(pam, syslog):
    host = rhost()
    out, *_ = relay_sign_in(pam, "bob", BOB, host)
    assert PAM_AUTH_ERR in out and PAM_SUCCESS not in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["flow"]) == ("policy_denied", "group_not_allowed", "relay")


def test_alices_sign_in_cannot_open_bobs_account(pam, syslog):
    host = rhost()
    out, *_ = relay_sign_in(pam, "bob", ALICE, host)
    assert PAM_AUTH_ERR in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"], a["email"]) == ("denied", "account_mismatch", "bob", "alice@example.com")


def test_wrong_host_secret_is_a_configuration_error(workdir, emulator, redirect_uris, accounts, syslog, relay):
    pam = PamSetup(workdir, emulator, redirect_uris,
                   extra_config=relay_config(workdir, relay, secret="not-the-fleet-secret-" + "x" * 16, name="wrong-secret"))
    host = rhost()
    out = pam_result(pam.pamtester("alice", host))
    assert PAM_SERVICE_ERR in out and PAM_SUCCESS not in out, out
    a = one_audit_line(syslog, f"rhost={host}")
    assert a["result"] == "config_error" and "relay_secret_file" in a["detail"], a
    assert "invalid_client" in relay.log() or "host secret" in relay.log()


@pytest.fixture(scope="module")
def postgres():
    pg = Postgres().start()
    yield pg
    pg.stop()


@pytest.fixture(params=["memory", "postgresql"])
def walkaway_relay(request, workdir, emulator, relay, pg_relay_port):
    """The module's memory-store relay, or one on a real PostgreSQL (with the store to look into)."""
    if request.param == "memory":
        yield relay, None
        return
    pg = request.getfixturevalue("postgres")
    r = Relay(workdir, emulator, port=pg_relay_port, store=pg.url, name="flow-relay-pg")
    try:
        yield r.start(), pg
    finally:
        r.stop()


def test_person_who_walks_away_is_a_timeout_and_no_helper_is_left(workdir, emulator, redirect_uris, accounts, syslog,
                                                                  walkaway_relay):
    """Both sides give up by login_timeout: the helper (audit line, process gone) and the relay,
    which the helper told how long it waits (`expires_in`): the person who comes back to the
    relay's page later is told the sign-in expired, and the store holds the row as expired (or
    has purged it). The relay's code_lifetime (600 s) is far longer than login_timeout here."""
    relay, pg = walkaway_relay
    login_timeout = 10
    pam = PamSetup(workdir, emulator, redirect_uris, login_timeout=login_timeout,
                   extra_config=relay_config(workdir, relay, name=f"walkaway-secret-{relay.port}"))
    host = rhost()
    started = time.monotonic()
    child = pam.pamtester("alice", host)
    _, _, code, complete = read_device_prompt(child)
    helpers = helper_processes()
    lines = syslog.audit_lines(f"rhost={host}", timeout=login_timeout + 8)
    assert len(lines) == 1 and "result=timeout" in lines[0], lines
    assert time.monotonic() - started <= login_timeout + 3
    deadline = time.monotonic() + 8
    while set(helpers) & set(helper_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not set(helpers) & set(helper_processes())
    child.sendline("")
    assert PAM_SUCCESS not in pam_result(child)

    # The person comes back after the host gave up: the relay's code page refuses the code.
    late = Person(forwarded_for=f"192.0.2.{next(_rhost) % 200 + 20}").enter_code(complete)
    assert late.status_code == 400, late.text[:300]
    assert "This sign-in has expired; start again at your terminal." in late.text, late.text[:600]
    assert "user code expired" in relay.log()
    if pg is not None:
        stored = code.replace("-", "")
        rows = pg.psql(f"SELECT expires_at - created_at, expires_at <= (extract(epoch from clock_timestamp()) * 1000)::bigint "
                       f"FROM relay_sign_ins WHERE user_code = '{stored}'").split()
        if rows:   # not purged yet: kept no longer than the host waited, and already dead
            lifetime_ms, dead = rows[0].split("|")
            assert int(lifetime_ms) <= login_timeout * 1000 and dead == "t", rows


# ---------------------------------------------------------------- through a real sshd

@pytest.fixture(scope="module")
def sshd(workdir, emulator, redirect_uris, accounts, syslog, relay):
    s = Sshd(workdir, emulator, redirect_uris, extra_config=relay_config(workdir, relay, name="sshd-secret"))
    try:
        yield s.start()
    finally:
        s.stop()


def ssh_relay_sign_in(sshd, user, credentials):
    return ssh_device_sign_in(sshd, user, credentials, browser=lambda url, email, password: Person().sign_in(url, email, password))


def test_sshd_alice_gets_a_shell(sshd, syslog):
    out, status, shown, source = ssh_relay_sign_in(sshd, "alice", ALICE)
    assert status == 0 and "alice" in out.split(), out
    assert "as alice" in shown and f"request from {source}" in shown
    a = sshd_audit_line(syslog, sshd, source)
    assert (a["result"], a["flow"]) == ("allowed", "relay")


def test_sshd_bob_is_refused_by_policy(sshd, syslog):
    out, status, _, source = ssh_relay_sign_in(sshd, "bob", BOB)
    assert status == 255 and "Permission denied" in out, out
    assert sshd_audit_line(syslog, sshd, source)["reason"] == "group_not_allowed"


def test_sshd_alices_sign_in_cannot_open_bobs_account(sshd, syslog):
    out, status, _, source = ssh_relay_sign_in(sshd, "bob", ALICE)
    assert status == 255 and "Permission denied" in out, out
    a = sshd_audit_line(syslog, sshd, source)
    assert (a["result"], a["reason"], a["user"]) == ("denied", "account_mismatch", "bob")
