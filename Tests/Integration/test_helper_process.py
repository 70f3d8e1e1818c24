"""The real cognito-auth-helper guards itself before it reads a byte (pam/PROTOCOL.md "The
helper process"): PR_SET_DUMPABLE 0, and PR_SET_PDEATHSIG so that it does not outlive the process
that started it even while someone else still holds the other end of its socket.

Both are observed from outside. The helper is started here directly (as pam_cognito.so would, with
fd 3 its socket) and never sent START, so it sits waiting for it for 10 s: long enough to look.

- A non-dumpable process's /proc/PID files belong to root:root. Root's own would too, so the helper
  runs as alice here: a dumpable alice process shows alice there, the helper must show root.
- When the helper's parent is SIGKILLed while a sibling (think of a forked sshd child) keeps the
  socket open, the helper sees no EOF; only the parent-death signal ends it before its 10 s wait.
"""
import json
import os
import pwd
import signal
import subprocess
import time

import pytest

from harness import module_helper

T = 30


def _gone(pid):
    """True when the process is gone or a zombie (in a container PID 1 may not reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture(scope="module")
def helper():
    assert os.geteuid() == 0, "run as root"
    return module_helper()


def _as_alice():
    a = pwd.getpwnam("alice")
    os.setgroups([])
    os.setresgid(a.pw_gid, a.pw_gid, a.pw_gid)
    os.setresuid(a.pw_uid, a.pw_uid, a.pw_uid)


def _proc_uid(pid):
    return os.stat(f"/proc/{pid}/status").st_uid


def test_helper_makes_itself_non_dumpable_before_reading_start(helper):
    import socket
    ours, theirs = socket.socketpair()
    p = subprocess.Popen([helper], pass_fds=[3], preexec_fn=lambda: (os.dup2(theirs.fileno(), 3), _as_alice()),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    theirs.close()
    try:
        alice = pwd.getpwnam("alice").pw_uid
        # A control: any process of alice's, dumpable, shows alice as the owner of its /proc files.
        sleeper = subprocess.Popen(["sleep", "5"], preexec_fn=_as_alice)
        try:
            assert _wait_for(lambda: _proc_uid(sleeper.pid) == alice, 2)
        finally:
            sleeper.kill()
            sleeper.wait()
        assert _wait_for(lambda: _proc_uid(p.pid) == 0, 5), "the helper's /proc files are still alice's"
        assert p.poll() is None, "it should still be waiting for START"
        assert os.getresuid() == (0, 0, 0)
        assert open(f"/proc/{p.pid}/status").read().count("\nUid:\t%d\t%d\t%d" % (alice, alice, alice)) == 1
    finally:
        ours.close()             # EOF: the helper gives up on START and exits
        p.wait(T)


# The parent (alice, like the first test): makes the socketpair (so that the helper's SO_PEERCRED
# check sees its real parent), starts the helper on one end, forks a holder that keeps the other
# end open, reports both pids and waits to be killed.
PARENT = r"""
import json, os, socket, subprocess, sys, time
helper = sys.argv[1]
ours, theirs = socket.socketpair()
p = subprocess.Popen([helper], pass_fds=[3], preexec_fn=lambda: os.dup2(theirs.fileno(), 3),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
theirs.close()
holder = os.fork()
if holder == 0:
    time.sleep(60)
    os._exit(0)
print(json.dumps({"helper": p.pid, "holder": holder}), flush=True)
time.sleep(60)
"""


def test_helper_dies_with_its_parent_even_while_its_socket_stays_open(helper):
    parent = subprocess.Popen(["/usr/bin/python3", "-c", PARENT, helper], stdout=subprocess.PIPE, text=True,
                              preexec_fn=_as_alice)
    pids = json.loads(parent.stdout.readline())
    try:
        # Its /proc files turn root's when the helper has passed its first step, which sets
        # PR_SET_PDEATHSIG just before PR_SET_DUMPABLE.
        assert _wait_for(lambda: _proc_uid(pids["helper"]) == 0, 5)
        time.sleep(0.3)
        assert not _gone(pids["helper"]), "the helper should be waiting for START"
        parent.kill()
        parent.wait(T)
        started = time.monotonic()
        # Without PR_SET_PDEATHSIG it would wait out its 10 s for START: the holder keeps fd 3's
        # peer open, so there is no EOF to see.
        assert _wait_for(lambda: _gone(pids["helper"]), 2), "the helper outlived its parent"
        assert time.monotonic() - started < 2
    finally:
        for pid in (pids["holder"], pids["helper"]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if parent.poll() is None:
            parent.kill()
            parent.wait(T)


def test_helper_whose_parent_did_not_make_its_socket_exits_at_once(helper):
    # The race PR_SET_PDEATHSIG leaves: a parent that died before the prctl sends no signal, and
    # the helper is re-parented. It checks that its parent made the socketpair (SO_PEERCRED); here
    # the socket comes from this process and the parent is another one in between: it must not stay.
    import socket
    ours, theirs = socket.socketpair()
    os.set_inheritable(theirs.fileno(), True)
    started = time.monotonic()
    between = ("import os, subprocess, sys; fd = int(sys.argv[2]); print('rc=%d' % subprocess.run("
               "[sys.argv[1]], pass_fds=[3], preexec_fn=lambda: os.dup2(fd, 3)).returncode)")
    p = subprocess.run(["/usr/bin/python3", "-c", between, helper, str(theirs.fileno())],
                       pass_fds=[theirs.fileno()], capture_output=True, text=True, timeout=T)
    ours.close()
    theirs.close()
    assert "rc=1" in p.stdout, p
    assert time.monotonic() - started < 5, "it waited for START instead"


# The relay's server stack stays out of what runs on hosts (README "Dependencies, and why",
# ARCHITECTURE.md §8): no Hummingbird, SwiftNIO or postgres-nio code in the helper or the CLI.
# Swift mangles a symbol with its module's name; the package's own modules are linked statically.
RELAY_ONLY_MODULES = ["Hummingbird", "NIOCore", "NIOPosix", "PostgresNIO", "CognitoRelay"]


@pytest.mark.parametrize("program", ["cognito-auth-helper", "cognito-auth"])
def test_host_programs_link_none_of_the_relay_stack(program):
    from harness import HELPER, PAM_HELPER
    path = PAM_HELPER if program == "cognito-auth-helper" else HELPER
    symbols = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    assert len(symbols.splitlines()) > 1000           # a real symbol table, not an empty answer
    found = [m for m in RELAY_ONLY_MODULES if f"{len(m)}{m}" in symbols]
    assert found == [], f"{program} links {found}"
    relay = os.path.join(os.path.dirname(HELPER), "cognito-auth-relay")
    if os.path.exists(relay):                         # the check can see these modules where they are
        relay_symbols = subprocess.run(["nm", "--defined-only", relay], capture_output=True, text=True,
                                       check=True).stdout
        assert all(f"{len(m)}{m}" in relay_symbols for m in ["Hummingbird", "NIOCore", "CognitoRelay"])
