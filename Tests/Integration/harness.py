"""Shared pieces of the integration tests: the built artifacts, a real rsyslogd, the Cognito
emulator process, local accounts, a test browser, and pamtester under pam_wrapper."""
import atexit
import contextlib
import html
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pexpect
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The admin's CLI (emulator, test, doctor, unpin) and the program pam_cognito.so execs.
HELPER = os.environ.get("COGNITO_AUTH_HELPER", os.path.join(ROOT, ".build", "debug", "cognito-auth"))
PAM_HELPER = os.environ.get("COGNITO_AUTH_PAM_HELPER", os.path.join(ROOT, ".build", "debug", "cognito-auth-helper"))
MODULE = os.path.join(ROOT, "pam", "pam_cognito.so")
PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
CLIENT_ID = "itest-client"
# The two sample people every module signs in with (conftest.py puts them in the emulator).
ALICE = ("alice@example.com", "Alice-pw-1")
BOB = ("bob@example.com", "Bob-pw-1")
CLIENT_SECRET = "itest-secret-value"

# PAM result texts as pamtester prints them (pam_strerror of Linux-PAM 1.5).
PAM_SUCCESS = "successfully authenticated"
PAM_AUTH_ERR = "Authentication failure"
PAM_USER_UNKNOWN = "User not known to the underlying authentication module"
PAM_AUTHINFO_UNAVAIL = "Authentication service cannot retrieve authentication info"
PAM_SERVICE_ERR = "Error in service module"
PAM_PERM_DENIED = "Permission denied"


# ---------------------------------------------------------------- safe copies of helpers

# pam_cognito.so runs a helper only if every directory from / down to it is root-owned and not
# group/world-writable (pam/PROTOCOL.md). A checkout need not be such a path (CI clones into a
# user's directory), so the module is given copies in a directory of this pytest process.
SAFE_BIN = f"/run/cognito-auth-itest/bin-{os.getpid()}"


def safe_bin():
    """SAFE_BIN, made root-owned 0755 (as its parents) on first use and removed at exit."""
    if not os.path.isdir(SAFE_BIN):
        for d in ("/run/cognito-auth-itest", SAFE_BIN):
            os.makedirs(d, mode=0o755, exist_ok=True)
            os.chown(d, 0, 0)
            os.chmod(d, 0o755)
        atexit.register(shutil.rmtree, SAFE_BIN, True)
    return SAFE_BIN


def safe_copy(src, name=None):
    """A root-owned 0755 copy of file or directory `src` in safe_bin(), made once per process."""
    dst = os.path.join(safe_bin(), name or os.path.basename(src))
    if not os.path.exists(dst):
        tmp = dst + ".tmp"
        (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, tmp)
        for path in [tmp] + [os.path.join(r, f) for r, ds, fs in os.walk(tmp) for f in ds + fs]:
            os.chown(path, 0, 0)
            os.chmod(path, 0o755)
        os.rename(tmp, dst)
    return dst


def module_helper():
    """The built cognito-auth-helper as pam_cognito.so may run it (`helper=`)."""
    return safe_copy(PAM_HELPER)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- syslog

class Syslog:
    """A real rsyslogd on /dev/log writing authpriv.* to a file. One daemon serves every test
    module (and concurrent test runs): the first user starts it, each user holds a shared flock
    while attached, and the last one out stops it. Each user reads only lines logged after it
    attached."""

    DIR = "/run/cognito-auth-itest"

    def __init__(self, workdir=None):
        self.dir = self.DIR
        self.log = os.path.join(self.DIR, "authpriv.log")
        self.pidfile = os.path.join(self.DIR, "rsyslogd.pid")
        self.lockfd = None
        self.offset = 0

    def _daemon_alive(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return os.path.exists("/dev/log")
        except (OSError, ValueError):
            return False

    def start(self):
        import fcntl
        os.makedirs(self.DIR, mode=0o755, exist_ok=True)
        # Two locks: `mutex` serialises the start/stop decisions (held only briefly); every attached
        # user holds `users` shared, so a stopper can tell whether anyone else still reads the log.
        mutex = os.open(os.path.join(self.DIR, "mutex"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(mutex, fcntl.LOCK_EX)
        try:
            if not self._daemon_alive():
                if os.path.exists("/dev/log"):
                    raise RuntimeError("/dev/log exists but is not ours: another syslog daemon owns it; stop it to run these tests")
                conf = os.path.join(self.DIR, "rsyslog.conf")
                with open(conf, "w") as f:
                    f.write(f'''global(workDirectory="{self.DIR}")
module(load="imuxsock" SysSock.Name="/dev/log" SysSock.RateLimit.Interval="0")
template(name="line" type="string" string="%programname%[%procid%]: %msg%\\n")
authpriv.* action(type="omfile" file="{self.log}" template="line")
''')
                open(self.log, "a").close()
                subprocess.Popen(["rsyslogd", "-f", conf, "-i", self.pidfile], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).wait(10)     # forks into the background
                for _ in range(100):
                    if self._daemon_alive():
                        break
                    time.sleep(0.05)
                else:
                    raise RuntimeError("rsyslogd did not create /dev/log")
            self.offset = os.path.getsize(self.log)
            self.lockfd = os.open(os.path.join(self.DIR, "users"), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.lockfd, fcntl.LOCK_SH)
        finally:
            fcntl.flock(mutex, fcntl.LOCK_UN)
            os.close(mutex)
        return self

    def stop(self):
        import fcntl
        if self.lockfd is None:
            return
        mutex = os.open(os.path.join(self.DIR, "mutex"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(mutex, fcntl.LOCK_EX)
        try:
            try:
                fcntl.flock(self.lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # only if nobody else is attached
            except OSError:
                return
            try:
                with open(self.pidfile) as f:
                    pid = int(f.read().strip())
                os.kill(pid, 15)
                for _ in range(100):
                    if not os.path.exists("/dev/log"):
                        break
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass
        finally:
            os.close(self.lockfd)
            self.lockfd = None
            fcntl.flock(mutex, fcntl.LOCK_UN)
            os.close(mutex)

    def lines(self):
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace").splitlines()

    def audit_lines(self, marker, timeout=5.0, count=1):
        """Audit lines of the helper that contain `marker` (e.g. a unique rhost=...)."""
        deadline = time.time() + timeout
        found = []
        while time.time() < deadline:
            found = [l for l in self.lines() if l.startswith("cognito-auth[") and "event=login" in l and marker in l]
            if len(found) >= count:
                time.sleep(0.3)  # would a second line follow?
                return [l for l in self.lines() if l.startswith("cognito-auth[") and "event=login" in l and marker in l]
            time.sleep(0.1)
        return found


def kv_fields(line):
    """Splits an audit line into (key, value) pairs the way a log parser would."""
    body = line.split(": ", 1)[1]
    out = []
    for m in re.finditer(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)', body):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        out.append((m.group(1), v))
    return out


# ---------------------------------------------------------------- emulator

class Emulator:
    """`cognito-auth emulator` as a process. With `tls=(cert, key)` it serves HTTPS only and
    `verify` (the CA that issued the certificate, for `requests`) is what this side trusts."""

    def __init__(self, redirect_uris, client_secret=CLIENT_SECRET, tls=None, verify=True):
        args = [HELPER, "emulator", "--port", "0", "--client-id", CLIENT_ID]
        if client_secret:
            args += ["--client-secret", client_secret]
        for u in redirect_uris:
            args += ["--redirect-uri", u]
        if tls:
            args += ["--tls", *tls]
        self.verify = verify
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("emulator did not start: " + self.proc.stderr.read())
        info = json.loads(line)
        self.port = info["port"]
        self.issuer = info["issuer"]
        self.base = info["base_url"]

    def add_user(self, email, password, groups=(), email_verified=True, **extra):
        body = {"email": email, "password": password, "groups": list(groups), "email_verified": email_verified}
        body.update(extra)
        r = requests.post(self.base + "/_emulator/users", json=body, timeout=5, verify=self.verify)
        assert r.status_code == 201, r.text

    def fault(self, name):
        r = requests.post(self.base + "/_emulator/fault", json={"fault": name}, timeout=5, verify=self.verify)
        assert r.status_code == 200, r.text

    def outage(self, *endpoints):
        """The named endpoints answer 503 until called again without them."""
        r = requests.post(self.base + "/_emulator/outage", json={"endpoints": list(endpoints)}, timeout=5, verify=self.verify)
        assert r.status_code == 200, r.text

    def slow(self, **seconds):
        """The named endpoints answer only after that many seconds until called again without them."""
        r = requests.post(self.base + "/_emulator/slow", json={"endpoints": seconds}, timeout=5)
        assert r.status_code == 200, r.text

    def oversize(self, **size):
        """The named endpoints' bodies are padded to that many bytes until called again without them."""
        r = requests.post(self.base + "/_emulator/oversize", json={"endpoints": size}, timeout=5)
        assert r.status_code == 200, r.text

    def rotate(self):
        r = requests.post(self.base + "/_emulator/rotate", timeout=30, verify=self.verify)
        assert r.status_code == 200, r.text
        return r.json()

    def stats(self):
        return requests.get(self.base + "/_emulator/stats", timeout=5, verify=self.verify).json()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@contextlib.contextmanager
def sample_pool(redirect_uris, **emulator_args):
    """An emulator holding the two sample people (alice in linux-admins, bob in staff); stopped on exit."""
    e = Emulator(redirect_uris, **emulator_args)
    try:
        e.add_user(*ALICE, groups=["linux-admins"])
        e.add_user(*BOB, groups=["staff"])
        yield e
    finally:
        e.stop()


# ---------------------------------------------------------------- browser

class Browser:
    """Plays the person's browser: opens the authorize URL, fills the hosted UI's sign-in form and
    returns the redirect Location (without following it). `verify`: the CA bundle it trusts for
    https (True: the system store), as `requests` takes it."""

    def __init__(self, verify=True):
        self.verify = verify

    def sign_in(self, authorize_url, email, password):
        s = requests.Session()
        url = authorize_url
        host = urllib.parse.urlsplit(authorize_url).netloc
        for _ in range(5):
            # Cognito sends /oauth2/authorize on to its hosted UI's /login; follow only that host.
            r = s.get(url, allow_redirects=False, timeout=10, verify=self.verify)   # per request: REQUESTS_CA_BUNDLE overrides a session's
            if r.status_code not in (301, 302, 303) or urllib.parse.urlsplit(
                    urllib.parse.urljoin(url, r.headers["Location"])).netloc != host:
                break
            url = urllib.parse.urljoin(url, r.headers["Location"])
        assert r.status_code == 200, (r.status_code, r.headers.get("Location"), r.text[:300])
        m = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', r.text)
        assert m, r.text[:500]
        action = urllib.parse.urljoin(url, html.unescape(m.group(1)))
        r = s.post(action, data={"username": email, "password": password}, allow_redirects=False, timeout=10,
                   verify=self.verify)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        return r.headers["Location"]

    def follow(self, url):
        return requests.get(url, allow_redirects=False, timeout=10)


# ---------------------------------------------------------------- accounts

class LocalAccounts:
    """Creates the test's local accounts with useradd and removes the ones it created."""

    def __init__(self):
        self.created = []

    def ensure(self, name):
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True)
            self.created.append(name)

    def absent(self, name):
        try:
            pwd.getpwnam(name)
            raise RuntimeError(f"test needs account {name} to be absent")
        except KeyError:
            pass

    def cleanup(self):
        for name in self.created:
            subprocess.run(["userdel", name], check=False)


# ---------------------------------------------------------------- PAM

def write_private(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def write_test_config(directory, emulator, redirect_uris, login_timeout=60, http_timeout=3, extra_config=""):
    """A root-owned 0600 cognito-auth.conf (and client secret) for the emulator, with its cache and
    pins inside `directory`, so no test touches the host's. Returns its path."""
    config = os.path.join(directory, "cognito-auth.conf")
    secret = os.path.join(directory, "client-secret")
    write_private(secret, CLIENT_SECRET + "\n")
    write_private(config, f"""region = us-east-1
user_pool_id = us-east-1_Example
client_id = {CLIENT_ID}
client_secret_file = {secret}
issuer = {emulator.issuer}
redirect_uris = {", ".join(redirect_uris)}
allowed_domains = example.com
allowed_groups = linux-admins
login_timeout = {login_timeout}
http_timeout = {http_timeout}
cache_dir = {directory}/cache
state_dir = {directory}/state
{extra_config}
""")
    return config


class PamSetup:
    """A config file and a pam_wrapper service directory for one test."""

    def __init__(self, workdir, emulator, redirect_uris, extra_config="", service="cognito", module_args="", **timeouts):
        self.dir = tempfile.mkdtemp(dir=workdir)
        os.chmod(self.dir, 0o755)
        self.service = service
        self.browser_verify = getattr(emulator, "verify", True)   # what the browser trusts for https
        self.config = write_test_config(self.dir, emulator, redirect_uris, extra_config=extra_config, **timeouts)
        self.services = os.path.join(self.dir, "pam.d")
        os.mkdir(self.services)
        self.add_service(service, module_args)

    def add_service(self, name, module_args=""):
        """A pam_wrapper service file NAME (pamtester's service argument becomes PAM_SERVICE)."""
        with open(os.path.join(self.services, name), "w") as f:
            f.write(f"auth required {MODULE} config={self.config} helper={module_helper()} {module_args}\n")
            f.write(f"account required {MODULE} config={self.config} helper={module_helper()}\n")

    def env(self):
        e = dict(os.environ)
        e.update({"LD_PRELOAD": PAM_WRAPPER, "PAM_WRAPPER": "1", "PAM_WRAPPER_SERVICE_DIR": self.services})
        return e

    def pamtester(self, user, rhost, *ops, service=None, tty=None):
        """pamtester with PAM_RHOST = `rhost` (None: unset, as for a console login) and, when
        given, PAM_TTY = `tty`."""
        ops = ops or ("authenticate",)
        items = (["-I", f"rhost={rhost}"] if rhost is not None else []) + (["-I", f"tty={tty}"] if tty else [])
        return pexpect.spawn("pamtester", [*items, service or self.service, user, *ops],
                             env=self.env(), encoding="utf-8", timeout=30)


URL_RE = re.compile(r"(https?://\S+/oauth2/authorize\?\S+)")


def read_prompt(child):
    """Waits for the Redirect URL prompt; returns (text shown before it, the sign-in URL)."""
    child.expect(r"Redirect URL: ")
    shown = child.before
    m = URL_RE.search(shown)
    assert m, shown
    return shown, m.group(1)


def helper_processes():
    """PIDs of running cognito-auth-helper processes of this test run: those executing this
    process's copy of the helper (module_helper()), so another run's helpers are not counted."""
    exe = module_helper()
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if os.readlink(f"/proc/{pid}/exe") != exe:
                continue
        except OSError:
            continue
        if argv and argv[0] == b"cognito-auth-helper":
            pids.append(int(pid))
    return pids


def pam_result(child, timeout=30):
    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    return child.before


def answer_prompt(child, url, credentials, paste=True, verify=True):
    """Plays the person at a "Redirect URL:" prompt: signs in with the browser, then pastes the
    redirect address, or lets the browser land on the helper's listener and presses Enter."""
    location = Browser(verify).sign_in(url, *credentials)
    if paste:
        child.sendline(location)
    else:
        Browser().follow(location)
        child.sendline("")
    return location


def sign_in_through_pam(pam, user, credentials, host, paste=True, service=None, ops=(), url_check=None):
    """One whole login through pamtester: prompt, browser sign-in, paste (or loopback + Enter).
    Returns pamtester's output after the prompt."""
    child = pam.pamtester(user, host, *ops, service=service)
    _, url = read_prompt(child)
    if url_check:
        url_check(url)
    answer_prompt(child, url, credentials, paste, verify=pam.browser_verify)
    return pam_result(child)
