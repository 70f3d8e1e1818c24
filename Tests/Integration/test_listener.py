"""Issue 10, the loopback listener: a port is the helper's only when it holds it on both 127.0.0.1
and [::1] (the redirect names localhost), and slow local connections cannot hold up the real
callback. Through pamtester, the real module and helper, the emulator and a test browser."""
import itertools
import socket
import threading
import time
import urllib.parse

import pytest

from harness import (ALICE, PAM_SUCCESS, Browser, PamSetup, kv_fields, pam_result, read_prompt)

_n = itertools.count(1)


def rhost():
    return f"192.0.2.{100 + next(_n)}"


@pytest.fixture
def pam(workdir, emulator, redirect_uris, accounts, syslog):
    return PamSetup(workdir, emulator, redirect_uris)


def port_of(uri):
    return urllib.parse.urlsplit(uri).port


def squat_ipv6(port):
    """What a local user could do: listen on [::1]:port before the helper starts."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind(("::1", port))
    s.listen(8)
    s.setblocking(False)
    return s


def redirect_uri_in(url):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["redirect_uri"][0]


def test_port_held_on_ipv6_by_another_process_is_not_used(pam, redirect_uris, syslog):
    taken, free = port_of(redirect_uris[0]), port_of(redirect_uris[1])
    squatter = squat_ipv6(taken)
    try:
        host = rhost()
        child = pam.pamtester("alice", host)
        shown, url = read_prompt(child)
        assert f":{taken}/" not in shown and f"%3A{taken}%2F" not in url, shown
        assert redirect_uri_in(url) == redirect_uris[1]
        location = Browser().sign_in(url, *ALICE)
        assert port_of(location) == free
        page = Browser().follow(location)           # localhost: ::1 or 127.0.0.1, both the helper's
        assert page.status_code == 200 and "close this tab" in page.text
        child.sendline("")
        assert PAM_SUCCESS in pam_result(child)
        with pytest.raises(BlockingIOError):
            squatter.accept()                        # the squatter never saw a connection
    finally:
        squatter.close()


def test_every_port_held_on_ipv6_leaves_paste_back_only(pam, redirect_uris, syslog):
    squatters = [squat_ipv6(port_of(u)) for u in redirect_uris]
    try:
        child = pam.pamtester("alice", rhost())
        shown, url = read_prompt(child)
        assert "only paste-back works now" in shown, shown
        location = Browser().sign_in(url, *ALICE)
        child.sendline(location)
        assert PAM_SUCCESS in pam_result(child)
    finally:
        for s in squatters:
            s.close()


def dribble(port, family, stop):
    """A local connection that sends one byte a second (or nothing), as long as it is let."""
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.connect(("::1" if family == socket.AF_INET6 else "127.0.0.1", port))
    except OSError:
        return
    request = b"GET /callback?code=x&state=y HTTP/1.1\r\n"
    try:
        for b in request:
            if stop.wait(1.0):
                break
            s.send(bytes([b]))
    except OSError:
        pass                                        # dropped by the listener: fine
    finally:
        s.close()


def test_twenty_slow_connections_do_not_stall_the_callback(pam, syslog):
    host = rhost()
    child = pam.pamtester("alice", host)
    _, url = read_prompt(child)
    location = Browser().sign_in(url, *ALICE)
    port = port_of(location)
    stop = threading.Event()
    threads = [threading.Thread(target=dribble, args=(port, socket.AF_INET6 if i % 2 else socket.AF_INET, stop))
               for i in range(20)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)                              # let them connect (and start dribbling) first
        started = time.monotonic()
        page = Browser().follow(location)
        took = time.monotonic() - started
        assert page.status_code == 200 and "close this tab" in page.text
        child.sendline("")
        assert PAM_SUCCESS in pam_result(child)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    # login_timeout is 60 s; the one-connection-at-a-time listener needed 2 s per slow connection.
    print(f"callback answered {took:.2f} s after 20 slow connections opened")
    assert took < 30, f"callback took {took:.1f} s"
    lines = syslog.audit_lines(f"rhost={host}")
    assert dict(kv_fields(lines[0]))["result"] == "allowed"
