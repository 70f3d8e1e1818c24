"""Issue 12 acceptance (host side): `flow = device` (RFC 8628) against the emulator's generic-OIDC
device mode, through the real PAM stack (pamtester under pam_wrapper) and a real sshd, with a test
browser on the emulator's /device page and a real rsyslogd collecting the audit lines."""
import contextlib
import html
import itertools
import re
import time
import urllib.parse

import pexpect
import pytest
import requests

from harness import (ALICE, BOB, PAM_AUTH_ERR, PAM_SERVICE_ERR, PAM_SUCCESS, PamSetup, helper_processes, kv_fields,
                     pam_result, sample_pool)
from qr_decode import qr_payload
from sshd_harness import Sshd, finish

PROMPT = "Press Enter after you have signed in: "
NOT_YET = re.compile(r"Not signed in yet\. Open (\S+) and enter ([A-Z]{4}-[A-Z]{4}), then press Enter: ")
SHOWN = re.compile(r"open (\S+) and enter ([A-Z]{4}-[A-Z]{4})\s+or go straight to (\S+)")
_rhost = itertools.count(1)


def rhost():
    return f"198.51.100.{next(_rhost)}"


# ---------------------------------------------------------------- the emulator in device mode

def device(emulator, **settings):
    r = requests.post(emulator.base + "/_emulator/device", json=settings, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def polls(emulator, user_code):
    """[(ms since the code was issued, answer)] of one device code."""
    for c in device_state(emulator)["codes"]:
        if c["user_code"] == user_code:
            return [(p["at_ms"], p["answer"]) for p in c["polls"]]
    raise AssertionError(f"no device code {user_code}")


def device_state(emulator):
    return requests.get(emulator.base + "/_emulator/device", timeout=5).json()


@pytest.fixture(scope="module")
def emulator(redirect_uris):
    with sample_pool(redirect_uris) as e:
        device(e, enabled=True, interval=1)
        yield e


@pytest.fixture(autouse=True)
def default_device_settings(emulator):
    yield
    device(emulator, enabled=True, interval=1, expires_in=600, slow_down=0, force=None)


@pytest.fixture
def pam(workdir, emulator, redirect_uris, accounts, syslog):
    return PamSetup(workdir, emulator, redirect_uris, extra_config="flow = device\n")


def read_device_prompt(child, timeout=30):
    """(text shown, verification_uri, user code, verification_uri_complete)."""
    child.expect_exact(PROMPT, timeout=timeout)
    shown = child.before
    m = SHOWN.search(shown)
    assert m, shown
    return shown, m.group(1), m.group(2), m.group(3)


def device_sign_in(complete_url, email, password, deny=False):
    """The person's browser: the /device page (code prefilled), Next, then the sign-in form (or Deny)."""
    s = requests.Session()
    r = s.get(complete_url, timeout=10)
    assert r.status_code == 200 and 'name="user_code"' in r.text, r.text[:300]
    code = html.unescape(re.search(r'name="user_code" type="text" value="([^"]*)"', r.text).group(1))
    action = urllib.parse.urljoin(complete_url, "/device")
    r = s.post(action, data={"user_code": code}, timeout=10)
    assert "cognitoSignInForm" in r.text, r.text[:300]
    data = {"user_code": code, "action": "deny"} if deny else {"user_code": code, "username": email, "password": password}
    r = s.post(action, data=data, timeout=10)
    assert r.status_code == 200 and "deviceDone" in r.text, r.text[:300]
    return r.text


def one_audit_line(syslog, marker):
    lines = syslog.audit_lines(marker)
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


# ---------------------------------------------------------------- through the PAM stack

def test_alice_signs_in_with_a_short_code_and_enter_finishes_at_once(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    shown, uri, code, complete = read_device_prompt(child)
    assert "Sign in to " in shown and "as alice" in shown and f"request from {host}" in shown
    assert uri.endswith("/device") and complete == uri + "?user_code=" + code
    assert "/oauth2/authorize" not in shown                  # no long link any more
    device_sign_in(complete, *ALICE)
    signed_in = time.monotonic()
    child.sendline("")
    out = pam_result(child)
    waited = time.monotonic() - signed_in
    print(f"sign-in completed → PAM_SUCCESS after Enter: {waited:.2f} s")
    assert PAM_SUCCESS in out
    assert waited < 5                                        # generous; scripts/bench-device measures it
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"], a["email"], a["flow"]) == ("allowed", "ok", "alice", "alice@example.com", "device")


def test_enter_too_early_gets_a_second_prompt_repeating_the_code(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    _, uri, code, complete = read_device_prompt(child)
    child.sendline("")                                       # before signing in
    child.expect(NOT_YET, timeout=10)
    assert (child.match.group(1), child.match.group(2)) == (uri, code)
    device_sign_in(complete, *ALICE)
    child.sendline("")
    assert PAM_SUCCESS in pam_result(child)
    assert one_audit_line(syslog, f"rhost={host}")["result"] == "allowed"


def test_slow_down_adds_five_seconds_to_the_interval(pam, syslog, emulator):
    device(emulator, slow_down=1)                            # the first poll answers slow_down
    host = rhost()
    child = pam.pamtester("alice", host)
    _, _, code, complete = read_device_prompt(child)
    deadline = time.monotonic() + 20
    while len(polls(emulator, code)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    device_sign_in(complete, *ALICE)
    child.sendline("")
    assert PAM_SUCCESS in pam_result(child, timeout=30)
    seen = polls(emulator, code)
    print("polls (ms since issue, answer):", seen)
    answers = [a for _, a in seen]
    assert answers[0] == "slow_down" and answers.count("slow_down") == 1, seen   # never polled too fast
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
    assert seen[0][0] >= 1000 - 250                          # the first poll waited one interval
    assert all(g >= 6000 - 250 for g in gaps), gaps          # 1 s + 5 s after the slow_down, for good
    assert one_audit_line(syslog, f"rhost={host}")["result"] == "allowed"


def test_access_denied_is_auth_err(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    _, _, _, complete = read_device_prompt(child)
    device_sign_in(complete, *ALICE, deny=True)              # the person presses Deny
    child.sendline("")
    out = pam_result(child)
    assert PAM_AUTH_ERR in out and PAM_SUCCESS not in out
    assert "cancelled or refused" in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["flow"]) == ("denied", "access_denied", "device")


def test_expired_token_is_a_timeout(pam, syslog, emulator):
    device(emulator, force="expired_token")
    host = rhost()
    child = pam.pamtester("alice", host)
    _, _, code, _ = read_device_prompt(child)
    deadline = time.monotonic() + 10
    while not polls(emulator, code) and time.monotonic() < deadline:
        time.sleep(0.1)
    child.sendline("")
    out = pam_result(child)
    assert PAM_AUTH_ERR in out and PAM_SUCCESS not in out and "timed out" in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("timeout", "timeout") and "expired_token" in a["detail"], a


def test_discovery_without_a_device_endpoint_is_a_configuration_error(pam, syslog, emulator):
    device(emulator, enabled=False)                          # as Cognito: no device_authorization_endpoint
    host = rhost()
    child = pam.pamtester("alice", host)
    out = pam_result(child)
    assert PAM_SERVICE_ERR in out and PROMPT not in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("config_error", "config_invalid")
    assert "device_authorization_endpoint" in a["detail"] and "flow = relay" in a["detail"], a


def test_walking_away_gives_up_by_login_timeout_and_leaves_no_helper(workdir, emulator, redirect_uris, accounts, syslog):
    login_timeout = 10
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config="flow = device\n", login_timeout=login_timeout)
    host = rhost()
    before = set(helper_processes())
    child = pam.pamtester("alice", host)
    _, _, code, _ = read_device_prompt(child)
    started = time.monotonic()
    (helper,) = set(helper_processes()) - before
    lines = syslog.audit_lines(f"rhost={host}", timeout=login_timeout + 8)
    audited = time.monotonic() - started
    assert len(lines) == 1 and "result=timeout" in lines[0], lines
    assert audited <= login_timeout + 3, audited
    deadline = time.monotonic() + 8                          # the helper's backstop is login_timeout + 4
    while helper in helper_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert helper not in helper_processes()
    n = len(polls(emulator, code))
    assert 3 <= n <= login_timeout + 1, n                    # it polled while waiting, then stopped
    time.sleep(1.5)
    assert len(polls(emulator, code)) == n
    child.sendline("")                                       # the person comes back too late
    out = pam_result(child)
    assert PAM_SUCCESS not in out


def test_bob_is_refused_by_group_policy(pam, syslog):
    host = rhost()
    child = pam.pamtester("bob", host)
    _, _, _, complete = read_device_prompt(child)
    device_sign_in(complete, *BOB)
    child.sendline("")
    out = pam_result(child)
    assert PAM_AUTH_ERR in out and PAM_SUCCESS not in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["groups"]) == ("policy_denied", "group_not_allowed", "staff")


def test_alices_sign_in_cannot_open_bobs_account(pam, syslog):
    host = rhost()
    child = pam.pamtester("bob", host)
    _, _, _, complete = read_device_prompt(child)
    device_sign_in(complete, *ALICE)
    child.sendline("")
    assert PAM_AUTH_ERR in pam_result(child)
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"], a["email"]) == ("denied", "account_mismatch", "bob", "alice@example.com")


# ---------------------------------------------------------------- through a real sshd

@pytest.fixture(scope="module")
def sshd(workdir, emulator, redirect_uris, accounts, syslog):
    s = Sshd(workdir, emulator, redirect_uris, extra_config="flow = device\n")
    try:
        yield s.start()
    finally:
        s.stop()


def sshd_audit_line(syslog, sshd, source):
    """This sshd's audit line for one client address (other test runs may use the same 127.77.x.y)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [l for l in syslog.audit_lines(f"service={sshd.name} ", timeout=1) if f"rhost={source} " in l]
        if lines or time.monotonic() > deadline:
            break
    time.sleep(0.3)
    lines = [l for l in syslog.audit_lines(f"service={sshd.name} ", timeout=1) if f"rhost={source} " in l]
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def ssh_device_sign_in(sshd, user, credentials, deny=False, browser=None):
    """One sign-in over ssh; `browser(complete_url, email, password)` plays the person (default: the
    emulator's /device page)."""
    child = sshd.ssh(user)
    try:
        shown, _, _, complete = read_device_prompt(child)
        if browser:
            browser(complete, *credentials)
        else:
            device_sign_in(complete, *credentials, deny=deny)
        child.sendline("")
        out, status = finish(child)
        return out, status, shown, child.source
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_sshd_alice_gets_a_shell(sshd, syslog):
    out, status, shown, source = ssh_device_sign_in(sshd, "alice", ALICE)
    assert status == 0 and "alice" in out.split(), out
    assert "as alice" in shown and f"request from {source}" in shown
    a = sshd_audit_line(syslog, sshd, source)
    assert (a["result"], a["flow"], a["service"]) == ("allowed", "device", sshd.name)
    assert "\u2580" not in shown and "\u2584" not in shown   # qr = auto: no QR code over SSH


def test_sshd_bob_is_refused_by_policy(sshd, syslog):
    out, status, _, source = ssh_device_sign_in(sshd, "bob", BOB)
    assert status == 255 and "Permission denied" in out, out
    assert sshd_audit_line(syslog, sshd, source)["reason"] == "group_not_allowed"


def test_sshd_alices_sign_in_cannot_open_bobs_account(sshd, syslog):
    out, status, _, source = ssh_device_sign_in(sshd, "bob", ALICE)
    assert status == 255 and "Permission denied" in out, out
    a = sshd_audit_line(syslog, sshd, source)
    assert (a["result"], a["reason"], a["user"]) == ("denied", "account_mismatch", "bob")


# ---------------------------------------------------------------- the QR code, decoded for real

@pytest.mark.parametrize("qr, tty, host", [
    ("always", None, "198.51.100.250"),     # qr = always: even for a remote request
    ("auto", "/dev/tty1", None),            # qr = auto: a local terminal (PAM_TTY) and no PAM_RHOST
])
def test_qr_code_in_the_prompt_decodes_to_the_verification_url(workdir, emulator, redirect_uris, accounts, syslog, qr, tty, host):
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config=f"flow = device\nqr = {qr}\n")
    child = pam.pamtester("alice", host, tty=tty)
    shown, uri, code, complete = read_device_prompt(child)
    # zbar reads the half blocks as a camera would read the screen: exactly the link shown.
    assert qr_payload(shown) == complete, shown
    assert complete.startswith(uri) and code in complete
    device_sign_in(complete, *ALICE)
    child.sendline("")
    assert PAM_SUCCESS in pam_result(child)


def test_qr_auto_draws_nothing_for_a_remote_request(workdir, emulator, redirect_uris, accounts, syslog):
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config="flow = device\nqr = auto\n")
    child = pam.pamtester("alice", "198.51.100.251", tty="/dev/tty1")
    shown, _, _, complete = read_device_prompt(child)
    assert "\u2580" not in shown and "\u2584" not in shown and "\u2588" not in shown
    device_sign_in(complete, *ALICE)
    child.sendline("")
    assert PAM_SUCCESS in pam_result(child)
