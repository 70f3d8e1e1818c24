"""Issue 10, HTTP at the door: every request after the conversation is bounded by login_timeout
(a stalled IdP ends as result=timeout, told to the person, not as the module's kill), and a body
over 1 MiB is refused without being buffered. The emulator's /_emulator/slow and /oversize make
the IdP misbehave; pamtester, the real module and helper, rsyslogd's audit line."""
import itertools
import os
import subprocess
import sys
import time

import pytest

from harness import (ALICE, HELPER, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, Browser, PamSetup, kv_fields, pam_result,
                     read_prompt)

_n = itertools.count(1)


def rhost():
    return f"192.0.2.{200 + next(_n)}"


@pytest.fixture
def idp(emulator):
    yield emulator
    emulator.slow()
    emulator.oversize()


def audit(syslog, host, timeout=5.0):
    lines = syslog.audit_lines(f"rhost={host}", timeout=timeout)
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def test_token_endpoint_stalling_past_login_timeout_is_a_timeout(workdir, idp, redirect_uris, accounts, syslog):
    login_timeout = 10
    pam = PamSetup(workdir, idp, redirect_uris, login_timeout=login_timeout, http_timeout=30)
    host = rhost()
    started = time.monotonic()
    child = pam.pamtester("alice", host)
    _, url = read_prompt(child)
    location = Browser().sign_in(url, *ALICE)
    idp.slow(token=60)
    child.sendline(location)
    out = pam_result(child, timeout=60)
    elapsed = time.monotonic() - started
    print(f"stalled token endpoint: pamtester done {elapsed:.1f} s after start (login_timeout {login_timeout} s)")
    assert PAM_AUTH_ERR in out and PAM_AUTHINFO_UNAVAIL not in out, out
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("timeout", "timeout"), a
    assert "token endpoint" in a["detail"], a["detail"]
    # The module's own kill comes 5 s after login_timeout; the helper must have ended before it.
    assert elapsed < login_timeout + 4, f"took {elapsed:.1f} s"


@pytest.mark.parametrize("endpoint", ["discovery", "jwks"])
def test_body_over_one_mib_is_refused(workdir, idp, redirect_uris, accounts, syslog, endpoint):
    pam = PamSetup(workdir, idp, redirect_uris)
    idp.oversize(**{endpoint: 2 * 1024 * 1024})
    host = rhost()
    child = pam.pamtester("alice", host)
    if endpoint == "jwks":                            # fetched after the sign-in
        _, url = read_prompt(child)
        child.sendline(Browser().sign_in(url, *ALICE))
    out = pam_result(child)
    assert PAM_AUTHINFO_UNAVAIL in out, out
    a = audit(syslog, host)
    assert (a["result"], a["reason"]) == ("unavailable", "idp_unavailable"), a
    assert "response body over 1048576 bytes" in a["detail"], a["detail"]


def max_rss_kib(argv):
    """Peak resident memory of a command (its own, measured by a fresh Python parent)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    return int(subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120).stdout)


# The libcurl client's write callback stops the transfer once the body passes the cap, so a huge
# body never reaches memory (the URLSession client before it read most of it first).
def test_huge_discovery_body_does_not_grow_memory(workdir, idp, redirect_uris, accounts):
    pam = PamSetup(workdir, idp, redirect_uris)
    doctor = [HELPER, "doctor", "--config", pam.config]
    baseline = max_rss_kib(doctor)
    idp.oversize(discovery=48 * 1024 * 1024)
    huge = max_rss_kib(doctor)
    print(f"cognito-auth doctor peak RSS: {baseline} KiB normally, {huge} KiB against a 48 MiB discovery body")
    # Buffering the body would add at least 48 MiB; generous, since the machine is noisy.
    assert huge - baseline < 24 * 1024, (baseline, huge)
