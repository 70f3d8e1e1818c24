"""Issue 10, safe defaults through the real PAM stack (pamtester under pam_wrapper, the built module
and helper, the Cognito emulator, rsyslogd): system accounts and root are refused unless the config
says otherwise, and a config that would admit anyone with any address, or any pool user without
saying so, does not load."""
import os
import pwd
import subprocess

import pytest

from harness import (ALICE, PAM_AUTH_ERR, PAM_SERVICE_ERR, PAM_SUCCESS, PamSetup, kv_fields, pam_result,
                     sign_in_through_pam, write_private)

_n = iter(range(1, 10_000))
SYSTEM_ACCOUNT = "cogsys-itest"


def rhost():
    return f"192.0.2.{100 + next(_n)}"


@pytest.fixture(scope="module")
def system_account():
    """A system account (useradd --system: uid below 1000), removed afterwards."""
    created = False
    try:
        pwd.getpwnam(SYSTEM_ACCOUNT)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_ACCOUNT], check=True)
        created = True
    assert pwd.getpwnam(SYSTEM_ACCOUNT).pw_uid < 1000
    yield SYSTEM_ACCOUNT
    if created:
        subprocess.run(["userdel", SYSTEM_ACCOUNT], check=False)


def mapped_to(workdir, emulator, redirect_uris, account, extra=""):
    """A PAM setup whose account_map sends alice@example.com to `account`."""
    pam = PamSetup(workdir, emulator, redirect_uris, extra_config="")
    amap = os.path.join(pam.dir, "accounts")
    write_private(amap, f"alice@example.com {account}\n", mode=0o644)
    with open(pam.config) as f:
        text = f.read()
    write_private(pam.config, text + f"account_map = file:{amap}\n" + extra)
    return pam


def with_config_line(pam, line, replacement):
    """pam's config with `line` (which it must hold) replaced; returns pam."""
    with open(pam.config) as f:
        text = f.read()
    assert line in text, line
    write_private(pam.config, text.replace(line, replacement))
    return pam


def audit(syslog, host):
    lines = syslog.audit_lines(f"rhost={host}")
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def test_root_is_refused_without_allow_root(workdir, syslog, emulator, redirect_uris):
    pam = mapped_to(workdir, emulator, redirect_uris, "root")
    host = rhost()
    assert PAM_AUTH_ERR in sign_in_through_pam(pam, "root", ALICE, host)
    a = audit(syslog, host)
    assert (a["result"], a["reason"], a["user"]) == ("policy_denied", "system_account", "root")
    assert "allow_root" in a["detail"]


def test_root_is_admitted_with_allow_root(workdir, syslog, emulator, redirect_uris):
    # min_uid stays 1000: allow_root is what admits uid 0, and nothing else below min_uid.
    pam = mapped_to(workdir, emulator, redirect_uris, "root", extra="allow_root = yes\n")
    host = rhost()
    assert PAM_SUCCESS in sign_in_through_pam(pam, "root", ALICE, host)
    assert audit(syslog, host)["result"] == "allowed"


def test_system_account_below_min_uid_is_refused(workdir, syslog, emulator, redirect_uris, system_account):
    pam = mapped_to(workdir, emulator, redirect_uris, system_account, extra="allow_root = yes\n")
    host = rhost()
    assert PAM_AUTH_ERR in sign_in_through_pam(pam, system_account, ALICE, host)
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("policy_denied", "system_account")
    assert f"below min_uid 1000" in a["detail"]


def test_min_uid_can_be_lowered(workdir, syslog, emulator, redirect_uris, system_account):
    uid = pwd.getpwnam(system_account).pw_uid
    pam = mapped_to(workdir, emulator, redirect_uris, system_account, extra=f"min_uid = {uid}\n")
    assert PAM_SUCCESS in sign_in_through_pam(pam, system_account, ALICE, rhost())


def config_error_through_pam(pam, syslog, user="alice"):
    host = rhost()
    out = pam_result(pam.pamtester(user, host))
    assert PAM_SERVICE_ERR in out, out
    assert "oauth2/authorize" not in out
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("config_error", "config_invalid")
    return a


def test_localpart_without_allowed_domains_does_not_load(workdir, syslog, emulator, redirect_uris):
    pam = with_config_line(PamSetup(workdir, emulator, redirect_uris), "allowed_domains = example.com\n", "")
    a = config_error_through_pam(pam, syslog)
    assert "allowed_domains: account_map = localpart (the default) needs allowed_domains" in a["detail"]


def test_no_allowed_groups_does_not_load(workdir, syslog, emulator, redirect_uris):
    pam = with_config_line(PamSetup(workdir, emulator, redirect_uris), "allowed_groups = linux-admins\n", "")
    a = config_error_through_pam(pam, syslog)
    assert "allowed_groups: required" in a["detail"]


def test_allowed_groups_star_admits_every_pool_user(workdir, syslog, emulator, redirect_uris, accounts):
    from harness import BOB
    pam = with_config_line(PamSetup(workdir, emulator, redirect_uris), "allowed_groups = linux-admins\n", "allowed_groups = *\n")
    assert PAM_SUCCESS in sign_in_through_pam(pam, "bob", BOB, rhost())      # bob is in no listed group
