"""Issue 10, file trust: the helper reaches the config and every file it names by walking from /,
each directory root-owned and not group/world-writable (OpenSSH's safe_path rule, no sticky
exception), never following a symlink and never blocking on a FIFO. Through pamtester, the real
module and helper, and rsyslogd's audit line."""
import itertools
import os
import re
import time

import pytest

from harness import (ALICE, PAM_AUTH_ERR, PAM_SERVICE_ERR, PAM_SUCCESS, MODULE, HELPER, PamSetup, module_helper, kv_fields,
                     pam_result, sign_in_through_pam)

_n = itertools.count(1)


def rhost():
    return f"192.0.2.{next(_n)}"


@pytest.fixture
def pam(workdir, emulator, redirect_uris, accounts, syslog):
    p = PamSetup(workdir, emulator, redirect_uris)
    yield p
    os.chmod(p.dir, 0o755)


def audit(syslog, host):
    lines = syslog.audit_lines(f"rhost={host}")
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def set_key(config, key, value):
    with open(config) as f:
        text = f.read()
    text = re.sub(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
    with open(config, "w") as f:
        f.write(text)


def refused_as_config_error(pam, syslog, expected_detail):
    host = rhost()
    started = time.monotonic()
    out = pam_result(pam.pamtester("alice", host))
    elapsed = time.monotonic() - started
    assert PAM_SERVICE_ERR in out, out
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("config_error", "config_invalid"), a
    assert expected_detail in a["detail"], a["detail"]
    return elapsed


def test_config_under_group_writable_directory_is_refused(pam, syslog):
    os.chmod(pam.dir, 0o775)
    refused_as_config_error(pam, syslog, f"{pam.config}: {pam.dir} is group-writable (mode 0775)")


def test_config_under_world_writable_sticky_directory_is_refused(pam, syslog):
    os.chmod(pam.dir, 0o1777)
    refused_as_config_error(pam, syslog, f"{pam.config}: {pam.dir} is world-writable (mode 1777)")


def test_config_through_a_symlinked_directory_is_refused(pam, syslog):
    link = pam.dir + "-link"
    os.symlink(pam.dir, link)
    try:
        with open(os.path.join(pam.services, "linked"), "w") as f:
            f.write(f"auth required {MODULE} config={link}/cognito-auth.conf helper={module_helper()}\n")
        host = rhost()
        out = pam_result(pam.pamtester("alice", host, service="linked"))
        assert PAM_SERVICE_ERR in out, out
        a = audit(syslog, host)
        assert a["result"] == "config_error" and f"{link} is a symbolic link" in a["detail"], a
    finally:
        os.unlink(link)


def test_fifo_in_place_of_the_config_is_refused_promptly(pam, syslog):
    os.unlink(pam.config)
    os.mkfifo(pam.config, 0o600)
    # Today's open(2) without O_NONBLOCK waits for a writer until the module kills the helper.
    elapsed = refused_as_config_error(pam, syslog, f"{pam.config}: is not a regular file")
    assert elapsed < 20, f"took {elapsed:.1f} s"


def test_client_secret_under_an_unsafe_directory_is_refused(pam, syslog):
    shared = unsafe_directory(pam, 0o777)
    secret = os.path.join(shared, "client-secret")
    os.rename(os.path.join(pam.dir, "client-secret"), secret)
    set_key(pam.config, "client_secret_file", secret)
    refused_as_config_error(pam, syslog, f"{secret}: {shared} is world-writable (mode 0777)")


def unsafe_directory(pam, mode):
    """A directory beside the config that others could write to."""
    shared = os.path.join(pam.dir, "shared")
    os.mkdir(shared)
    os.chmod(shared, mode)
    return shared


def test_state_dir_under_an_unsafe_directory_refuses_the_login(pam, syslog):
    shared = unsafe_directory(pam, 0o775)
    set_key(pam.config, "state_dir", shared + "/state")
    host = rhost()
    out = sign_in_through_pam(pam, "alice", ALICE, host)
    assert PAM_AUTH_ERR in out and PAM_SUCCESS not in out, out
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("denied", "pin_unreadable"), a
    assert f"{shared} is group-writable (mode 0775)" in a["detail"], a["detail"]
    assert not os.path.exists(shared + "/state"), "nothing is created below an unsafe directory"


def test_cache_dir_under_an_unsafe_directory_is_not_used(pam, syslog):
    shared = unsafe_directory(pam, 0o1777)
    set_key(pam.config, "cache_dir", shared + "/cache")
    host = rhost()
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, host)
    a = audit(syslog, host)
    notes = [v for k, v in kv_fields(syslog.audit_lines(f"rhost={host}")[0]) if k == "note"]
    assert any(n.startswith("cache_disabled: ") and f"{shared} is world-writable" in n for n in notes), notes
    assert a["result"] == "allowed"
    assert not os.path.exists(shared + "/cache"), "the cache is neither read nor written there"
