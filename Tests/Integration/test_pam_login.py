"""Issue 2 acceptance: sign-ins through the real PAM stack (pamtester under pam_wrapper) with the
built pam_cognito.so, the built cognito-auth helper, the Cognito emulator, a test browser and a
real rsyslogd collecting the audit lines."""
import itertools
import os
import time
import urllib.parse

import pytest

from harness import (ALICE, BOB, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS, PAM_USER_UNKNOWN, PAM_SERVICE_ERR,
                     Browser, Emulator, PamSetup, helper_processes, kv_fields, pam_result,
                     read_prompt)

_rhost = itertools.count(1)


def rhost():
    """A unique client address per attempt, so each test finds its own audit line."""
    return f"198.51.100.{next(_rhost)}"


@pytest.fixture
def pam(workdir, emulator, redirect_uris, accounts, syslog):
    return PamSetup(workdir, emulator, redirect_uris)


def one_audit_line(syslog, marker):
    lines = syslog.audit_lines(marker)
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def test_alice_admitted_by_pasting_the_redirect_url(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    shown, url = read_prompt(child)
    assert "as alice" in shown and f"request from {host}" in shown
    location = Browser().sign_in(url, *ALICE)
    child.sendline(location)
    assert PAM_SUCCESS in pam_result(child)
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"], a["email"]) == ("allowed", "ok", "alice", "alice@example.com")
    assert a["service"] == "cognito" and a["groups"] == "linux-admins" and a["sub"]


def test_alice_admitted_through_the_loopback_callback(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    _, url = read_prompt(child)
    location = Browser().sign_in(url, *ALICE)
    page = Browser().follow(location)          # the browser lands on the helper's listener
    assert page.status_code == 200 and "close this tab" in page.text
    child.sendline("")                          # and the person just presses Enter
    assert PAM_SUCCESS in pam_result(child)
    assert one_audit_line(syslog, f"rhost={host}")["result"] == "allowed"


def test_bob_in_staff_only_is_refused_by_group_policy(pam, syslog):
    host = rhost()
    child = pam.pamtester("bob", host)
    _, url = read_prompt(child)
    child.sendline(Browser().sign_in(url, *BOB))
    out = pam_result(child)
    assert PAM_AUTH_ERR in out and PAM_SUCCESS not in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["groups"]) == ("policy_denied", "group_not_allowed", "staff")


def test_alice_signing_in_for_bobs_account_is_refused(pam, syslog):
    host = rhost()
    child = pam.pamtester("bob", host)
    _, url = read_prompt(child)
    child.sendline(Browser().sign_in(url, *ALICE))
    assert PAM_AUTH_ERR in pam_result(child)
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"], a["email"]) == ("denied", "account_mismatch", "bob", "alice@example.com")


def refusal_text(out):
    """The last message the person was shown before pamtester's verdict."""
    lines = [l.strip() for l in out.splitlines() if l.strip().startswith(("Access denied", "Sign-in"))]
    return lines[-1] if lines else None


def test_unknown_account_gets_the_same_prompt_and_refusal(pam, syslog, accounts, emulator):
    # Account enumeration: before the sign-in an ssh client must not learn whether an account
    # exists. An unknown one is shown the same prompt and refused at the end in the same words.
    accounts.absent("carol-nosuch")
    emulator.add_user("carol-nosuch@example.com", "Carol-pw-1", groups=["linux-admins"])
    host = rhost()
    child = pam.pamtester("carol-nosuch", host)
    prompt, url = read_prompt(child)
    assert "as carol-nosuch" in prompt and "/oauth2/authorize?" in url
    assert "no such account" not in prompt.lower()
    child.sendline(Browser().sign_in(url, "carol-nosuch@example.com", "Carol-pw-1"))
    out = pam_result(child)
    assert PAM_USER_UNKNOWN in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"], a["user"]) == ("unknown_user", "no_local_account", "carol-nosuch")
    # The words are those of any refusal for someone else's account.
    host2 = rhost()
    other = pam.pamtester("bob", host2)
    _, url2 = read_prompt(other)
    other.sendline(Browser().sign_in(url2, *ALICE))
    other_out = pam_result(other)
    assert PAM_AUTH_ERR in other_out
    assert refusal_text(out) is not None and refusal_text(out) == refusal_text(other_out), (out, other_out)


def test_unknown_account_someone_else_signs_in_to(pam, syslog, accounts):
    accounts.absent("dave-nosuch")
    host = rhost()
    child = pam.pamtester("dave-nosuch", host)
    _, url = read_prompt(child)
    child.sendline(Browser().sign_in(url, *ALICE))
    assert PAM_AUTH_ERR in pam_result(child)
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("denied", "account_mismatch")


def test_pasted_url_with_another_state_is_refused(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    _, url = read_prompt(child)
    location = Browser().sign_in(url, *ALICE)
    forged = location.replace("state=", "state=x")
    child.sendline(forged)
    assert PAM_AUTH_ERR in pam_result(child)
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("denied", "state_mismatch")


def test_garbage_paste_is_refused(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    read_prompt(child)
    child.sendline("definitely not a url")
    assert PAM_AUTH_ERR in pam_result(child)
    assert one_audit_line(syslog, f"rhost={host}")["reason"] == "bad_redirect"


@pytest.mark.parametrize("fault,reason", [
    ("bad_signature", "bad_signature"),
    ("unknown_kid", "unknown_kid"),
    ("alg_none", "alg_not_allowed"),
    ("wrong_aud", "wrong_audience"),
    ("wrong_iss", "wrong_issuer"),
    ("token_use_access", "wrong_token_use"),
    ("expired", "expired"),
    ("nonce_mismatch", "nonce_mismatch"),
    ("email_verified_false", "email_not_verified"),
])
def test_token_fault_is_refused_through_pam(pam, syslog, emulator, fault, reason):
    host = rhost()
    emulator.fault(fault)
    try:
        child = pam.pamtester("alice", host)
        _, url = read_prompt(child)
        child.sendline(Browser().sign_in(url, *ALICE))
        out = pam_result(child)
    finally:
        emulator.fault(None)
    assert PAM_AUTH_ERR in out and PAM_SUCCESS not in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("denied", reason)


def test_bad_config_is_a_service_error(pam, syslog):
    with open(pam.config) as f:
        bad_line = len(f.read().splitlines()) + 1
    with open(pam.config, "a") as f:
        f.write("no_such_key = 1\n")
    host = rhost()
    child = pam.pamtester("alice", host)
    assert PAM_SERVICE_ERR in pam_result(child)
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("config_error", "config_invalid")
    assert a["detail"] == f"{pam.config}:{bad_line}: no_such_key: unknown key"


def test_emulator_stopped_is_unavailable_within_http_timeout(workdir, redirect_uris, accounts, syslog):
    e = Emulator(redirect_uris)
    pam = PamSetup(workdir, e, redirect_uris)
    e.stop()
    host = rhost()
    started = time.monotonic()
    child = pam.pamtester("alice", host)
    out = pam_result(child)
    elapsed = time.monotonic() - started
    assert PAM_AUTHINFO_UNAVAIL in out
    assert elapsed < 3 + 2, f"took {elapsed:.1f} s with http_timeout = 3"
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("unavailable", "idp_unavailable")


def test_debug_makes_the_helper_log_each_protocol_step_but_never_the_pasted_code(workdir, emulator, redirect_uris,
                                                                                 accounts, syslog):
    # The module's `debug` reaches the helper in START; the helper, not the module, logs the steps.
    pam = PamSetup(workdir, emulator, redirect_uris, module_args="debug")
    host = rhost()
    child = pam.pamtester("alice", host)
    _, url = read_prompt(child)
    location = Browser().sign_in(url, *ALICE)
    child.sendline(location)
    assert PAM_SUCCESS in pam_result(child)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        starts = [l for l in syslog.lines() if f"received START v=2 user=alice service=cognito rhost={host}" in l]
        if starts:
            break
        time.sleep(0.1)
    assert len(starts) == 1, syslog.lines()[-20:]
    ident = starts[0].split(":", 1)[0]           # cognito-auth[PID]
    one_audit_line(syslog, f"rhost={host}")      # the helper is done once its audit line is there
    mine = [l.split(": ", 1)[1].strip() for l in syslog.lines() if l.startswith(ident + ":")]
    steps = ["sent HELLO timeout=60", "sent CONV with 2 message(s)", "received ANSWER with 1 response(s)",
             "sent RESULT outcome=allowed user=alice reason=ok"]
    assert [l for l in mine if l.startswith(("sent ", "received ANSWER"))] == steps, mine
    assert not any(code in l for l in mine)


def test_no_helper_process_is_left_behind(pam):
    assert helper_processes() == []


def test_ignore_unknown_user_answers_at_once_without_a_prompt(workdir, emulator, redirect_uris, syslog, accounts):
    # With ignore_unknown_user an account this host does not have is not ours to decide: the helper
    # answers before any prompt and the module returns PAM_IGNORE, so the stack goes on.
    accounts.absent("erin-nosuch")
    pam = PamSetup(workdir, emulator, redirect_uris, module_args="ignore_unknown_user")
    with open(os.path.join(pam.services, pam.service), "a") as f:
        f.write("auth required pam_permit.so\n")
    host = rhost()
    out = pam_result(pam.pamtester("erin-nosuch", host), timeout=15)
    assert PAM_SUCCESS in out, out           # pam_permit decided; our module was ignored
    assert "oauth2/authorize" not in out and "Redirect URL" not in out
    a = one_audit_line(syslog, f"rhost={host}")
    assert (a["result"], a["reason"]) == ("unknown_user", "no_local_account")
