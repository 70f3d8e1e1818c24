"""Fixtures shared by the integration test modules: a work directory, the shared rsyslogd, two
callback URIs, the emulator with the two sample people, and their local accounts. A module that
needs something else defines a fixture of the same name, which takes precedence over these."""
import os
import shutil
import tempfile

import pytest

from harness import LocalAccounts, Syslog, free_port, sample_pool


# Work directories live under a root-owned 0755 path: the helper and the module refuse files below a
# group- or world-writable directory (such as /tmp), as OpenSSH's safe_path does.
SAFE_ROOT = "/run/cognito-auth-itest/work"


@pytest.fixture(scope="module")
def workdir(request):
    os.makedirs(SAFE_ROOT, mode=0o755, exist_ok=True)
    for path in ("/run/cognito-auth-itest", SAFE_ROOT):
        os.chmod(path, 0o755)
    d = tempfile.mkdtemp(prefix=f"cognito-{request.module.__name__}-", dir=SAFE_ROOT)
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def syslog():
    """The shared rsyslogd on /dev/log; detached (and stopped if this was its last user) at module end."""
    s = Syslog().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def redirect_uris():
    return [f"http://localhost:{free_port()}/callback", f"http://localhost:{free_port()}/callback"]


@pytest.fixture(scope="module")
def accounts():
    a = LocalAccounts()
    try:
        a.ensure("alice")
        a.ensure("bob")
        yield a
    finally:
        a.cleanup()


@pytest.fixture(scope="module")
def emulator(redirect_uris):
    with sample_pool(redirect_uris) as e:
        yield e
