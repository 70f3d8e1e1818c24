"""Issue 5 through the real PAM stack: per-service policy (sudo stricter than sshd), step-up with
max_auth_age, claim rules, username_claim, sticky identity and `cognito-auth unpin`, and
pam_sm_acct_mgmt. Every refusal's audit line names the rule."""
import os
import re
import subprocess

import pytest

from harness import (ALICE, BOB, HELPER, PAM_AUTH_ERR, PAM_SUCCESS, LocalAccounts, PamSetup, kv_fields,
                     sign_in_through_pam)

_n = iter(range(1, 10_000))

POLICY = """allowed_groups = linux-admins, staff
[service sudo]
allowed_groups = linux-admins
max_auth_age = 300
"""


def rhost():
    return f"192.0.2.{next(_n)}"


@pytest.fixture(scope="module")
def accounts():
    a = LocalAccounts()
    try:
        for name in ("alice", "bob", "carol"):
            a.ensure(name)
        yield a
    finally:
        a.cleanup()


@pytest.fixture(scope="module")
def env(workdir, syslog, emulator, redirect_uris, accounts):
    return workdir, syslog, emulator, redirect_uris


def setup(env, extra=POLICY):
    workdir, syslog, emulator, uris = env
    # The base config sets allowed_groups; the tests' own policy replaces it.
    pam = PamSetup(workdir, emulator, uris, extra_config="")
    with open(pam.config) as f:
        text = f.read().replace("allowed_groups = linux-admins\n", "")
    if not re.search(r"^allowed_groups", extra, re.M):
        extra = "allowed_groups = *\n" + extra     # these tests' rule is another one
    with open(pam.config, "w") as f:
        f.write(text + extra)
    pam.add_service("sshd")
    pam.add_service("sudo")
    return pam


def audit(syslog, host):
    lines = syslog.audit_lines(f"rhost={host}")
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def test_sudo_refuses_a_person_sshd_admits(env):
    _, syslog, _, _ = env
    pam = setup(env)
    ssh_host, sudo_host = rhost(), rhost()
    assert PAM_SUCCESS in sign_in_through_pam(pam, "bob", BOB, ssh_host, service="sshd")
    assert PAM_AUTH_ERR in sign_in_through_pam(pam, "bob", BOB, sudo_host, service="sudo")
    a = audit(syslog, sudo_host)
    assert (a["result"], a["reason"], a["service"]) == ("policy_denied", "group_not_allowed", "sudo")
    assert a["detail"].startswith("allowed_groups (service sudo)")


def test_sudo_asks_cognito_for_a_fresh_sign_in(env):
    pam = setup(env)
    seen = {}
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost(), service="sudo",
                                              url_check=lambda u: seen.setdefault("url", u))
    assert "prompt=login" in seen["url"]
    seen.clear()
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost(), service="sshd",
                                              url_check=lambda u: seen.setdefault("url", u))
    assert "prompt=login" not in seen["url"]


def test_old_sign_in_is_refused_for_sudo_with_sign_in_again(env):
    _, syslog, emulator, _ = env
    pam = setup(env)
    host = rhost()
    emulator.fault("auth_time_old")
    try:
        child_out = sign_in_through_pam(pam, "alice", ALICE, host, service="sudo")
        ssh_out = sign_in_through_pam(pam, "alice", ALICE, rhost(), service="sshd")
    finally:
        emulator.fault(None)
    assert PAM_AUTH_ERR in child_out and "Sign in again" in child_out
    assert PAM_SUCCESS in ssh_out, "sshd has no max_auth_age"
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("policy_denied", "auth_too_old")
    assert a["detail"].startswith("max_auth_age (service sudo)")


def test_require_claims_refuses_without_the_claim(env):
    _, syslog, emulator, _ = env
    emulator.add_user("carol@example.com", "Carol-pw-1", groups=["staff"], custom={"team": "sales"})
    pam = setup(env, extra="require_claims = custom:team=infra\n")
    host = rhost()
    assert PAM_AUTH_ERR in sign_in_through_pam(pam, "carol", ("carol@example.com", "Carol-pw-1"), host)
    a = audit(syslog, host)
    assert (a["reason"], a["detail"]) == ("claim_mismatch", "require_claims custom:team (service cognito): claim custom:team is not infra")


def test_username_claim_and_exact_mapping(env):
    _, syslog, emulator, _ = env
    emulator.add_user("carol.smith@corp.example", "Carol-pw-2", groups=["staff"], custom={"linux_user": "carol"})
    pam = setup(env, extra="username_claim = custom:linux_user\naccount_map = exact\n")
    assert PAM_SUCCESS in sign_in_through_pam(pam, "carol", ("carol.smith@corp.example", "Carol-pw-2"), rhost())


def test_sticky_identity_refuses_a_recreated_user_until_unpin(env):
    _, syslog, emulator, _ = env
    pam = setup(env)
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    pin = os.path.join(pam.dir, "state", "pins", "alice")
    assert os.stat(pin).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(pin)).st_mode & 0o777 == 0o700

    emulator.add_user(*ALICE, groups=["linux-admins"])      # deleted and re-created: a new sub
    host = rhost()
    assert PAM_AUTH_ERR in sign_in_through_pam(pam, "alice", ALICE, host)
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("denied", "identity_changed")
    assert "cognito-auth unpin alice" in a["detail"]

    r = subprocess.run([HELPER, "unpin", "alice", "--config", pam.config], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    unpin_lines = [l for l in syslog.lines() if "event=unpin" in l and "user=alice" in l]
    assert unpin_lines and "result=removed" in unpin_lines[-1]
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    r = subprocess.run([HELPER, "unpin", "nobody-pinned", "--config", pam.config], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1


def test_tampered_pin_fails_closed(env):
    _, syslog, _, _ = env
    pam = setup(env)
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    pin = os.path.join(pam.dir, "state", "pins", "alice")
    os.chmod(pin, 0o666)
    host = rhost()
    assert PAM_AUTH_ERR in sign_in_through_pam(pam, "alice", ALICE, host)
    assert audit(syslog, host)["reason"] == "pin_unreadable"


def test_acct_mgmt_follows_this_modules_authentication(env):
    pam = setup(env)
    out = sign_in_through_pam(pam, "alice", ALICE, rhost(), ops=("authenticate", "acct_mgmt"))
    assert "successfully authenticated" in out and "account management done" in out
