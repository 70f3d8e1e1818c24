"""Issue 3: the discovery/JWKS cache shared by every helper process, key rotation, the unknown-kid
refetch limit, and corrupt cache files — counted at the emulator."""
import glob
import json
import os

import pytest

from harness import (ALICE, PAM_AUTH_ERR, PAM_SUCCESS, PamSetup, kv_fields, sign_in_through_pam)

_n = iter(range(1, 10_000))


def rhost():
    return f"203.0.113.{next(_n)}"


@pytest.fixture(scope="module")
def env(workdir, syslog, emulator, redirect_uris, accounts):
    return workdir, syslog, emulator, redirect_uris


@pytest.fixture
def setup(env):
    workdir, syslog, emulator, uris = env
    return PamSetup(workdir, emulator, uris), syslog, emulator


def counts(emulator):
    s = emulator.stats()
    return s.get("discovery", 0), s.get("jwks", 0)


def audit(syslog, host):
    lines = syslog.audit_lines(f"rhost={host}")
    assert len(lines) == 1, lines
    return dict(kv_fields(lines[0]))


def test_twenty_logins_after_warm_up_fetch_no_discovery_or_jwks(setup):
    pam, syslog, emulator = setup
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    before = counts(emulator)
    for _ in range(20):
        assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    assert counts(emulator) == before, "every helper process must use the disk cache"


def test_cache_files_are_private_and_atomic(setup):
    pam, _, _ = setup
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    cache = os.path.join(pam.dir, "cache")
    assert os.stat(cache).st_mode & 0o777 == 0o700
    files = glob.glob(cache + "/*")
    assert files and all(os.stat(f).st_mode & 0o077 == 0 for f in files), files
    assert not [f for f in files if ".tmp." in f], "temporary files left behind"


def test_key_rotation_refetches_once_and_succeeds(setup):
    pam, syslog, emulator = setup
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    emulator.rotate()
    _, jwks_before = counts(emulator)
    host = rhost()
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, host)
    assert counts(emulator)[1] == jwks_before + 1
    assert audit(syslog, host)["result"] == "allowed"


def test_token_signed_with_a_removed_key_is_refused(setup):
    pam, syslog, emulator = setup
    emulator.rotate()
    emulator.fault("removed_key")
    try:
        host = rhost()
        assert PAM_AUTH_ERR in sign_in_through_pam(pam, "alice", ALICE, host)
    finally:
        emulator.fault(None)
    assert audit(syslog, host)["reason"] == "unknown_kid"


def test_unknown_kid_refetches_at_most_once_per_ten_seconds(setup):
    pam, syslog, emulator = setup
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    emulator.fault("unknown_kid")
    try:
        _, j0 = counts(emulator)
        first, second = rhost(), rhost()
        assert PAM_AUTH_ERR in sign_in_through_pam(pam, "alice", ALICE, first)
        _, j1 = counts(emulator)
        assert PAM_AUTH_ERR in sign_in_through_pam(pam, "alice", ALICE, second)
        _, j2 = counts(emulator)
    finally:
        emulator.fault(None)
    assert (j1 - j0, j2 - j1) == (1, 0)
    assert audit(syslog, first)["reason"] == "unknown_kid"
    a = audit(syslog, second)
    assert a["reason"] == "unknown_kid" and "jwks_refetch_suppressed" in a.get("note", "")


@pytest.mark.parametrize("garbage", [b"", b"not json", b'{"fetched_at":1,"expires_at":9e99,"body":"{\\"keys\\": 5}"}',
                                     b'{"keys":[]}'])
def test_corrupt_cache_file_is_discarded_and_refetched(setup, garbage):
    pam, syslog, emulator = setup
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    for f in glob.glob(os.path.join(pam.dir, "cache", "*-jwks.json")):
        with open(f, "wb") as fh:
            fh.write(garbage)
    _, j0 = counts(emulator)
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    assert counts(emulator)[1] == j0 + 1


def test_jwks_outage_uses_stale_cached_keys_and_says_so(setup):
    pam, syslog, emulator = setup
    assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, rhost())
    # Make the cached JWKS stale, then take the JWKS endpoint down.
    for f in glob.glob(os.path.join(pam.dir, "cache", "*-jwks.json")):
        with open(f) as fh:
            entry = json.load(fh)
        entry["expires_at"] = entry["fetched_at"]   # stale now
        with open(f, "w") as fh:
            json.dump(entry, fh)
    emulator.outage("jwks")
    try:
        host = rhost()
        assert PAM_SUCCESS in sign_in_through_pam(pam, "alice", ALICE, host)
    finally:
        emulator.outage()
    a = audit(syslog, host)
    assert a["result"] == "allowed" and "jwks_stale_if_error" in a.get("note", "")


def test_jwks_outage_without_cached_keys_is_unavailable(setup):
    pam, syslog, emulator = setup
    emulator.outage("jwks")
    try:
        host = rhost()
        out = sign_in_through_pam(pam, "alice", ALICE, host)
    finally:
        emulator.outage()
    assert "Authentication service cannot retrieve authentication info" in out
    assert audit(syslog, host)["reason"] == "idp_unavailable"
