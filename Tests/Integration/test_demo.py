"""`cognito-auth demo`, as a new user runs it: `--flow code | device | relay`, with `--auto` playing
the browser (the code flow's sign-in form, the emulator's RFC 8628 /device page, or the relay's
code form, confirmation page and Cognito's sign-in). For `--flow relay` the demo starts the real
cognito-auth-relay program (found next to its own executable) on a free loopback port and must
stop it on every way out: success, refusal, and a SIGTERM while it waits at the prompt."""
import os
import re
import select
import signal
import socket
import subprocess
import time

import pytest

from harness import HELPER

RELAY_LINE = re.compile(r"cognito-auth-relay \(pid (\d+)\) on http://127\.0\.0\.1:(\d+), its config (\S+)/relay\.conf")


def run_demo(*args, timeout=120):
    p = subprocess.run([HELPER, "demo", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.stdout + p.stderr, p.returncode


def alive(pid):
    """True while `pid` is a live (not zombie) cognito-auth-relay."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0]
    except OSError:
        return False
    return state != "Z" and argv0.endswith(b"cognito-auth-relay")


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_relay_gone(out):
    m = RELAY_LINE.search(out)
    assert m, out
    pid, port, directory = int(m.group(1)), int(m.group(2)), m.group(3)
    # Stopped and reaped by the demo before it returned (no waiting here: it must already be so,
    # except for init reaping an orphan, which is not what the demo does).
    assert not alive(pid), f"relay pid {pid} outlived the demo"
    assert not listening(port)
    assert not os.path.exists(directory), directory     # relay.conf and the secrets went with it
    return pid


def test_demo_relay_auto_admits_alice_and_stops_the_relay():
    out, rc = run_demo("--flow", "relay", "--auto")
    assert rc == 0, out
    assert re.search(r"open http://127\.0\.0\.1:\d+/d and enter [A-Z]{4}-[A-Z]{4}", out), out
    assert "[browser] the relay says: signed in" in out, out
    assert re.search(r"^✓ sign-in: flow=relay", out, re.M), out
    assert "✓ verdict: ALLOWED — allowed (ok)" in out, out
    assert "/oauth2/authorize" not in out      # the person sees the short link, never the long one
    assert_relay_gone(out)


def test_demo_relay_refusal_still_stops_the_relay():
    out, rc = run_demo("--flow", "relay", "--auto", "--user", "bob@example.com")
    assert rc == 1, out
    assert "REFUSED — policy_denied (group_not_allowed)" in out, out
    assert_relay_gone(out)


def start_waiting_demo():
    """`demo --flow relay` without --auto, read until its prompt: (process, relay pid, port, directory)."""
    p = subprocess.Popen([HELPER, "demo", "--flow", "relay"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    shown = b""
    deadline = time.monotonic() + 60
    try:
        while b"Press Enter after you have signed in: " not in shown:
            left = deadline - time.monotonic()
            assert left > 0, shown
            ready, _, _ = select.select([p.stdout], [], [], left)
            if ready:
                chunk = os.read(p.stdout.fileno(), 4096)
                assert chunk, shown
                shown += chunk
        m = RELAY_LINE.search(shown.decode())
        assert m and alive(int(m.group(1))), shown
    except BaseException:
        p.kill()
        p.wait()
        raise
    return p, int(m.group(1)), int(m.group(2)), m.group(3)


def test_demo_relay_dies_with_the_demo_even_by_sigkill():
    """SIGKILL runs no handler: the relay's parent-death signal (setpriv --pdeathsig) stops it."""
    p, pid, port, directory = start_waiting_demo()
    try:
        p.kill()
        p.wait(30)
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid), f"relay pid {pid} outlived the demo"
        assert not listening(port)
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)      # the test's own cleanup after a failure
        subprocess.run(["rm", "-rf", "--", directory])   # SIGKILL leaves the demo's directory


def test_demo_relay_stops_the_relay_when_it_is_terminated():
    p, pid, port, directory = start_waiting_demo()
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if alive(pid) and p.returncode == -signal.SIGKILL:
            os.kill(pid, signal.SIGTERM)      # the test's own cleanup after a failure
    assert p.returncode == -signal.SIGTERM
    assert not os.path.exists(directory), directory     # removed by the demo's signal handler
    # The demo's handler sent the relay SIGTERM before the demo went; the relay then needs a
    # moment of its own to stop (and init to reap it).
    deadline = time.monotonic() + 15
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), f"relay pid {pid} outlived the demo"
    assert not listening(port)


def test_demo_device_auto_admits_alice():
    out, rc = run_demo("--flow", "device", "--auto")
    assert rc == 0, out
    assert "generic OIDC provider with RFC 8628" in out
    assert re.search(r"open http://127\.0\.0\.1:\d+/device and enter [A-Z]{4}-[A-Z]{4}", out), out
    assert re.search(r"^✓ sign-in: flow=device", out, re.M), out
    assert "✓ verdict: ALLOWED — allowed (ok)" in out, out


def test_demo_code_auto_still_admits_alice():
    out, rc = run_demo("--auto")
    assert rc == 0, out
    assert "✓ verdict: ALLOWED — allowed (ok)" in out, out


def test_demo_refuses_an_unknown_flow():
    out, rc = run_demo("--flow", "carrier-pigeon", "--auto")
    assert rc == 64 or rc == 2, out
    assert "--flow must be code, device or relay" in out, out
