"""Issue 6 acceptance: audit events through a real rsyslogd.

Each sign-in runs through the real PAM stack (pamtester under pam_wrapper, the built pam_cognito.so
and helper, the Cognito emulator, a test browser); the helper's audit line travels over /dev/log to
the rsyslogd that harness.Syslog starts with its own config and output file. Each test finds its
own line by a unique rhost/tty pair and checks there is exactly one, with the right fields."""
import itertools
import json
import os
import random
import re
import time
import types

import pexpect
import pytest

from harness import (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SERVICE_ERR, PAM_SUCCESS, PAM_USER_UNKNOWN, Browser,
                     Emulator, LocalAccounts, PamSetup, free_port, kv_fields, pam_result,
                     read_prompt, write_private)

PID = os.getpid() % 100000
ALICE = ("alice@example.com", "Alice-pw-1")
BOB = ("bob@example.com", "Bob-pw-1")
TRUDY = ("trudy@example.com", "Trudy-pw-1")
# A person whose claims try to forge audit fields.
FORGED = '" result=allowed'
MALLORY = (f'mallory{FORGED}@example.com', "Mallory-pw-1")
MALLORY_SUB = f'sub-mallory{FORGED}'
MALLORY_GROUP = f'staff{FORGED} reason=ok'
TRUDY_GROUP = 'x" result=denied reason=forged'
VICTOR = ("victor@example.com", "Victor-pw-1")
VICTOR_LOGIN = f'victor{FORGED} user=root'
# Mapped (account_map) to a local account that does not exist.
NOSUCH = ("nosuch@example.com", "Nosuch-pw-1")
NOSUCH_LOCAL = f"nosuch{PID}"
# Local accounts of this module only.
ALICE_LOCAL, BOB_LOCAL, TRUDY_LOCAL = f"auda{PID}", f"audb{PID}", f"audt{PID}"
ALICE_SUB = f"sub-alice-{PID}"
BOB_SUB = f"sub-bob-{PID}"
TOKEN_FIELDS = ["email", "sub", "groups", "jti"]
BASE_FIELDS = ["event", "result", "reason", "service", "user", "rhost", "tty", "duration_ms", "detail"]

_attempt = itertools.count(1)
_run = random.randrange(1, 250)


def marker():
    """A unique (rhost, tty) for one attempt, unlikely to collide with a concurrent test run."""
    n = next(_attempt)
    return f"198.18.{_run}.{n}", f"pts/a{PID}x{n}"


@pytest.fixture(scope="module")
def accounts():
    a = LocalAccounts()
    for name in (ALICE_LOCAL, BOB_LOCAL, TRUDY_LOCAL):
        a.ensure(name)
    yield a
    a.cleanup()


@pytest.fixture(scope="module")
def redirect_uris():
    return [f"http://localhost:{free_port()}/callback"]


@pytest.fixture(scope="module")
def emulator(redirect_uris):
    e = Emulator(redirect_uris)
    e.add_user(*ALICE, groups=["linux-admins"], sub=ALICE_SUB)
    e.add_user(*BOB, groups=["staff"], sub=BOB_SUB)
    e.add_user(*TRUDY, groups=["linux-admins", TRUDY_GROUP])
    e.add_user(*MALLORY, groups=[MALLORY_GROUP], sub=MALLORY_SUB, custom={"team": f"ops{FORGED}"})
    e.add_user(*VICTOR, groups=["linux-admins"], custom={"login": VICTOR_LOGIN})
    e.add_user(*NOSUCH, groups=["linux-admins"])
    yield e
    e.stop()


@pytest.fixture(scope="module")
def account_map(workdir):
    path = os.path.join(workdir, "accounts")
    write_private(path, f"alice@example.com {ALICE_LOCAL}\nbob@example.com {BOB_LOCAL}\ntrudy@example.com {TRUDY_LOCAL}\n"
                  f"nosuch@example.com {NOSUCH_LOCAL}\n",
                  mode=0o644)
    return path


@pytest.fixture(scope="module")
def kv(workdir, emulator, redirect_uris, accounts, account_map, syslog):
    return PamSetup(workdir, emulator, redirect_uris, extra_config=f"account_map = file:{account_map}\n")


@pytest.fixture(scope="module")
def js(workdir, emulator, redirect_uris, accounts, account_map, syslog):
    return PamSetup(workdir, emulator, redirect_uris,
                    extra_config=f"account_map = file:{account_map}\naudit_format = json\n")


def pamtester(pam, user, rhost, tty):
    return pexpect.spawn("pamtester", ["-I", f"rhost={rhost}", "-I", f"tty={tty}", pam.service, user, "authenticate"],
                         env=pam.env(), encoding="utf-8", timeout=30)


def sign_in(pam, user, credentials, rhost, tty, tamper=None):
    child = pamtester(pam, user, rhost, tty)
    _, url = read_prompt(child)
    location = Browser().sign_in(url, *credentials)
    child.sendline(tamper(location) if tamper else location)
    return pam_result(child)


def lines_for(syslog, rhost, tty, timeout=5.0):
    """Every helper line naming this attempt's rhost and tty, once they stop coming."""
    def matching():
        return [l for l in syslog.lines() if l.startswith("cognito-auth[") and rhost in l and tty in l]
    deadline = time.time() + timeout
    while time.time() < deadline and not matching():
        time.sleep(0.1)
    time.sleep(0.5)   # would a second line follow?
    return matching()


def one_kv(syslog, rhost, tty):
    lines = lines_for(syslog, rhost, tty)
    assert len(lines) == 1, lines
    pairs = kv_fields(lines[0])
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a field appears twice: {lines[0]}"
    return dict(pairs), lines[0]


def one_json(syslog, rhost, tty):
    lines = lines_for(syslog, rhost, tty)
    assert len(lines) == 1, lines
    body = lines[0].split(": ", 1)[1]
    pairs = json.loads(body, object_pairs_hook=lambda kv: kv)
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a field appears twice: {lines[0]}"
    return dict(pairs), lines[0]


def check_common(a, line, result, reason, user, rhost, tty, token):
    """The fields every audit line carries, and the token's fields exactly when there was a token."""
    assert (a["event"], a["result"], a["reason"]) == ("login", result, reason), line
    assert (a["service"], a["user"], a["rhost"], a["tty"]) == ("cognito", user, rhost, tty), line
    # A digit string in the kv form, a JSON number in the json form.
    d = a["duration_ms"]
    assert (isinstance(d, int) and d >= 0) if line.split(": ", 1)[1].lstrip().startswith("{") else re.fullmatch(r"\d+", d), line
    for f in BASE_FIELDS:
        assert f in a, (f, line)
    for f in TOKEN_FIELDS:
        assert (f in a) == token, (f, line)
    if token:
        assert a["jti"] and a["sub"]
    # Never a token, an authorization code, the client secret or the PKCE verifier.
    assert "eyJ" not in line and "itest-secret-value" not in line and "code=" not in line and "verifier" not in line


# ---------------------------------------------------------------- one line per outcome (kv)

def test_allowed(kv, syslog):
    rhost, tty = marker()
    assert PAM_SUCCESS in sign_in(kv, ALICE_LOCAL, ALICE, rhost, tty)
    a, line = one_kv(syslog, rhost, tty)
    check_common(a, line, "allowed", "ok", ALICE_LOCAL, rhost, tty, token=True)
    assert (a["email"], a["sub"], a["groups"]) == ("alice@example.com", ALICE_SUB, "linux-admins")


def test_policy_denied(kv, syslog):
    rhost, tty = marker()
    assert PAM_AUTH_ERR in sign_in(kv, BOB_LOCAL, BOB, rhost, tty)
    a, line = one_kv(syslog, rhost, tty)
    check_common(a, line, "policy_denied", "group_not_allowed", BOB_LOCAL, rhost, tty, token=True)
    assert (a["email"], a["sub"], a["groups"]) == ("bob@example.com", BOB_SUB, "staff")
    assert a["detail"] == "allowed_groups (service cognito): groups [staff] include none of linux-admins"


def test_denied_state_mismatch(kv, syslog):
    rhost, tty = marker()
    out = sign_in(kv, ALICE_LOCAL, ALICE, rhost, tty, tamper=lambda loc: loc.replace("state=", "state=x"))
    assert PAM_AUTH_ERR in out
    a, line = one_kv(syslog, rhost, tty)
    check_common(a, line, "denied", "state_mismatch", ALICE_LOCAL, rhost, tty, token=False)


def test_unknown_user(kv, syslog, accounts):
    # An account the host does not have gets the whole sign-in, like any other (no enumeration),
    # and the audit line still says why it was refused.
    accounts.absent(NOSUCH_LOCAL)
    rhost, tty = marker()
    out = sign_in(kv, NOSUCH_LOCAL, NOSUCH, rhost, tty)
    assert PAM_USER_UNKNOWN in out
    a, line = one_kv(syslog, rhost, tty)
    check_common(a, line, "unknown_user", "no_local_account", NOSUCH_LOCAL, rhost, tty, token=True)


def test_unavailable(workdir, redirect_uris, accounts, account_map, syslog):
    dead = types.SimpleNamespace(issuer=f"http://127.0.0.1:{free_port()}/us-east-1_Example")
    pam = PamSetup(workdir, dead, redirect_uris, extra_config=f"account_map = file:{account_map}\n")
    rhost, tty = marker()
    out = pam_result(pamtester(pam, ALICE_LOCAL, rhost, tty))
    assert PAM_AUTHINFO_UNAVAIL in out
    a, line = one_kv(syslog, rhost, tty)
    check_common(a, line, "unavailable", "idp_unavailable", ALICE_LOCAL, rhost, tty, token=False)


def test_config_error(workdir, emulator, redirect_uris, accounts, syslog):
    pam = PamSetup(workdir, emulator, redirect_uris)
    with open(pam.config) as f:
        lines = f.read().splitlines()
    lines.insert(3, "colour = blue")      # line 4: an unknown key
    write_private(pam.config, "\n".join(lines) + "\n")
    rhost, tty = marker()
    out = pam_result(pamtester(pam, ALICE_LOCAL, rhost, tty))
    assert PAM_SERVICE_ERR in out
    a, line = one_kv(syslog, rhost, tty)
    check_common(a, line, "config_error", "config_invalid", ALICE_LOCAL, rhost, tty, token=False)
    assert a["detail"] == f"{pam.config}:4: colour: unknown key", a["detail"]


# ---------------------------------------------------------------- crafted claims cannot forge fields

def test_crafted_email_sub_and_group_do_not_forge_a_result(kv, syslog):
    rhost, tty = marker()
    assert PAM_AUTH_ERR in sign_in(kv, ALICE_LOCAL, MALLORY, rhost, tty)
    a, line = one_kv(syslog, rhost, tty)
    assert line.count("result=") >= 2, "the crafted text is in the line ..."
    assert [k for k, _ in kv_fields(line)].count("result") == 1, "... but only one result field parses out of it"
    # A quote and a space are not in any identity this host accepts (printable ASCII only).
    check_common(a, line, "denied", "invalid_login_name", ALICE_LOCAL, rhost, tty, token=True)
    assert a["email"] == MALLORY[0] and a["sub"] == MALLORY_SUB and a["groups"] == MALLORY_GROUP
    assert a["detail"] == f"identity '{MALLORY[0]}' is not printable ASCII"


def test_crafted_group_of_an_admitted_person_stays_inside_groups(kv, syslog):
    rhost, tty = marker()
    assert PAM_SUCCESS in sign_in(kv, TRUDY_LOCAL, TRUDY, rhost, tty)
    a, line = one_kv(syslog, rhost, tty)
    check_common(a, line, "allowed", "ok", TRUDY_LOCAL, rhost, tty, token=True)
    assert a["groups"] == f"linux-admins,{TRUDY_GROUP}"
    assert [k for k, _ in kv_fields(line)].count("reason") == 1


def test_crafted_custom_claim_does_not_forge_result_or_user(workdir, emulator, redirect_uris, accounts, syslog):
    # The custom claim names the person (username_claim), so it reaches the line's detail.
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config="username_claim = custom:login\naccount_map = exact\n")
    rhost, tty = marker()
    assert PAM_AUTH_ERR in sign_in(pam, ALICE_LOCAL, VICTOR, rhost, tty)
    a, line = one_kv(syslog, rhost, tty)
    assert VICTOR_LOGIN.replace('"', '\\"') in line
    check_common(a, line, "denied", "invalid_login_name", ALICE_LOCAL, rhost, tty, token=True)
    assert VICTOR_LOGIN in a["detail"]


# ---------------------------------------------------------------- audit_format = json

def test_json_lines_parse_with_the_same_fields(js, syslog):
    rhost, tty = marker()
    assert PAM_SUCCESS in sign_in(js, ALICE_LOCAL, ALICE, rhost, tty)
    a, line = one_json(syslog, rhost, tty)
    check_common(a, line, "allowed", "ok", ALICE_LOCAL, rhost, tty, token=True)
    assert (a["email"], a["sub"], a["groups"]) == ("alice@example.com", ALICE_SUB, "linux-admins")

    rhost, tty = marker()
    assert PAM_AUTH_ERR in sign_in(js, BOB_LOCAL, BOB, rhost, tty)
    b, line = one_json(syslog, rhost, tty)
    check_common(b, line, "policy_denied", "group_not_allowed", BOB_LOCAL, rhost, tty, token=True)
    # The fields of the kv form, in its order (extra `note` fields may follow duration_ms).
    order = ["event", "result", "reason", "service", "user", "email", "sub", "groups", "rhost", "tty", "jti", "duration_ms"]
    for doc in (a, b):
        assert [k for k in doc if k in order] == order, list(doc)
        assert list(doc)[-1] == "detail"


def test_json_crafted_claims_stay_values(js, syslog):
    rhost, tty = marker()
    assert PAM_AUTH_ERR in sign_in(js, ALICE_LOCAL, MALLORY, rhost, tty)
    a, line = one_json(syslog, rhost, tty)
    check_common(a, line, "denied", "invalid_login_name", ALICE_LOCAL, rhost, tty, token=True)
    assert a["email"] == MALLORY[0] and a["sub"] == MALLORY_SUB and a["groups"] == MALLORY_GROUP
