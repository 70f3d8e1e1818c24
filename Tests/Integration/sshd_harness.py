"""Real OpenSSH end to end: Debian's /usr/sbin/sshd on 127.0.0.1 with its own host key, config and
PAM service (pam_cognito.so + the built helper), and the real `ssh` client driven by pexpect.

OpenSSH 9.2 has no PAMServiceName: sshd uses its program name (basename of argv[0]) as the PAM
service. So each Sshd here runs /usr/sbin/sshd through a symlink with a unique name and writes
/etc/pam.d/<that name>, leaving the host's /etc/ssh and /etc/pam.d/sshd alone. sshd re-executes
itself by argv[0] for every connection, so the symlink path must be absolute.
"""
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pexpect

from harness import PAM_HELPER, MODULE, ROOT, URL_RE, answer_prompt, free_port, write_test_config

SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
PRIVSEP_DIR = "/run/sshd"
SERVICE_PREFIX = "sshd-cognito-itest-"
DROP_IN = os.path.join(ROOT, "contrib", "sshd_config.d", "cognito-auth.conf")
PROMPT = "Redirect URL: "
PASTE_ONLY = "Every local callback port is in use by other sign-ins, so only paste-back works now."


# ---------------------------------------------------------------- client addresses

_address = itertools.count(0)
_address_lock = threading.Lock()


def client_address():
    """A fresh loopback source address (127.77.x.y) for `ssh -b`, so every attempt has its own
    PAM_RHOST and finds its own audit line. All of 127/8 is local on Linux."""
    with _address_lock:
        n = next(_address)
    return f"127.77.{n // 250}.{n % 250 + 2}"


# ---------------------------------------------------------------- processes

def _proc_stat(pid):
    """(comm, state, ppid) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    return comm, fields[0], int(fields[1])


def processes_running(exe):
    """PIDs of live processes whose executable is exactly `exe` (so other test runs' helpers,
    which run another copy of the binary, are not counted)."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.readlink(f"/proc/{pid}/exe") == exe:
                    pids.append(int(pid))
            except OSError:
                pass
    return pids


def zombies(names=("cognito-auth",)):
    """PIDs of zombie processes with one of these command names (a zombie has no exe or cmdline).
    Children of this test process itself (a CLI run another test has not reaped yet) are not
    sshd's or the module's doing and are left out."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            st = _proc_stat(pid)
            if st and st[1] == "Z" and st[2] != os.getpid() and any(st[0].startswith(n[:15]) for n in names):
                out.append(int(pid))
    return out


def descendants(pid):
    """PIDs of every process below `pid`."""
    children = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            st = _proc_stat(p)
            if st:
                children.setdefault(st[2], []).append(int(p))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def wait_until(predicate, timeout, interval=0.1):
    """Polls until predicate() is truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


# ---------------------------------------------------------------- sshd

_privsep = {"running": 0, "made": False}
_privsep_lock = threading.Lock()


def _privsep_acquire():
    """sshd needs its privilege separation directory; made if missing, removed after the last
    Sshd of this process stops (only if this process made it)."""
    with _privsep_lock:
        if not os.path.isdir(PRIVSEP_DIR):
            os.makedirs(PRIVSEP_DIR, mode=0o755)
            _privsep["made"] = True
        _privsep["running"] += 1


def _privsep_release():
    with _privsep_lock:
        _privsep["running"] -= 1
        if _privsep["running"] == 0 and _privsep["made"]:
            try:
                os.rmdir(PRIVSEP_DIR)
                _privsep["made"] = False
            except OSError:
                pass


def remove_stale_pam_services():
    """/etc/pam.d files left by an earlier run that was killed before its cleanup (its PID is gone)."""
    for name in os.listdir("/etc/pam.d"):
        m = re.fullmatch(re.escape(SERVICE_PREFIX) + r"(\d+)-\d+(\.tmp)?", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            os.unlink(os.path.join("/etc/pam.d", name))


class Sshd:
    """One sshd -D -e on 127.0.0.1:PORT with its own host key, sshd_config, cognito-auth.conf, PAM
    service and private copy of the helper. stop() removes the /etc/pam.d file it wrote."""

    def __init__(self, workdir, emulator, redirect_uris, login_timeout=60, http_timeout=3,
                 login_grace_time=90, max_startups="100:30:200", extra_config="", pam_debug=False,
                 sshd_extra="", wrap=(), pubkey=False):
        # sshd_extra: sshd_config lines before the shipped drop-in; wrap: a command sshd is run
        # under (test_nss.py: a private mount namespace with its own nsswitch.conf); pubkey: keys
        # from <dir>/authorized_keys/<user> are accepted too (see authorize_key).
        self.wrap = tuple(wrap)
        self.dir = tempfile.mkdtemp(prefix="sshd-", dir=workdir)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.login_grace_time = login_grace_time
        self.login_timeout = login_timeout
        self.http_timeout = http_timeout
        # The PAM service name is sshd's program name: unique per instance and per test run.
        self.name = f"{SERVICE_PREFIX}{os.getpid()}-{self.port}"
        self.pam_debug = " debug" if pam_debug else ""
        self.link = os.path.join(self.dir, self.name)
        self.pam_file = os.path.join("/etc/pam.d", self.name)
        self.proc = None
        self.log = os.path.join(self.dir, "sshd.log")
        self._holds_privsep = False

        # A private copy of the helper: a concurrent `swift build` cannot replace the binary under
        # a running test, and /proc/PID/exe tells this instance's helpers from any other run's.
        self.helper = os.path.join(self.dir, "cognito-auth-helper")
        shutil.copy2(PAM_HELPER, self.helper)
        os.chmod(self.helper, 0o755)

        self.config = write_test_config(self.dir, emulator, redirect_uris, login_timeout=login_timeout,
                                        http_timeout=http_timeout, extra_config=extra_config)
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "cognito-itest", "-f", self.host_key],
                       check=True, timeout=30)
        self.sshd_config = os.path.join(self.dir, "sshd_config")
        self.keys_dir = os.path.join(self.dir, "authorized_keys")
        pubkey_lines = (f"PubkeyAuthentication yes\nAuthorizedKeysFile {self.keys_dir}/%u" if pubkey
                        else "PubkeyAuthentication no\nAuthorizedKeysFile none")
        with open(self.sshd_config, "w") as f:
            f.write(f"""# sshd for the cognito-auth end-to-end tests (Tests/Integration/sshd_harness.py).
# sshd keeps the first value it reads for a keyword: the test's own settings come first, then the
# drop-in we ship (UsePAM, KbdInteractiveAuthentication, AuthenticationMethods, ...), so the tests
# run the real contrib file.
ListenAddress 127.0.0.1
Port {self.port}
HostKey {self.host_key}
PidFile {self.dir}/sshd.pid
LoginGraceTime {login_grace_time}
MaxStartups {max_startups}
{pubkey_lines}
HostbasedAuthentication no
PermitRootLogin no
UseDNS no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
{sshd_extra}
Include {DROP_IN}
""")

    def effective_config(self):
        """`sshd -T` of this instance: {keyword: value} (lower-case keywords, as sshd prints them)."""
        out = subprocess.run([self.link if os.path.exists(self.link) else SSHD, "-T", "-f", self.sshd_config],
                             check=True, timeout=30, capture_output=True, text=True).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    # -- life cycle

    def start(self):
        remove_stale_pam_services()
        _privsep_acquire()
        self._holds_privsep = True
        # account: pam_cognito.so answers for the handle it authenticated (sshd runs auth and account
        # in the same PAM subprocess), pam_unix checks expiry; it ignores useradd's locked "!" password,
        # and so does sshd itself with UsePAM yes.
        with open(self.pam_file + ".tmp", "w") as f:
            f.write(f"""# written by the cognito-auth sshd tests; removed when they end
auth required {MODULE} config={self.config} helper={self.helper}{self.pam_debug}
account required {MODULE} config={self.config} helper={self.helper}{self.pam_debug}
account required pam_unix.so
session required pam_permit.so
""")
        os.rename(self.pam_file + ".tmp", self.pam_file)
        os.symlink(SSHD, self.link)
        subprocess.run([self.link, "-t", "-f", self.sshd_config], check=True, timeout=30,
                       capture_output=True)
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen([*self.wrap, self.link, "-D", "-e", "-f", self.sshd_config],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start:\n{self.log_text()}")
            time.sleep(0.05)
        return self

    def stop(self):
        try:
            if self.proc and self.proc.poll() is None:
                children = descendants(self.proc.pid)
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
                for pid in children:     # connections (and their helpers) still open at the end
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        finally:
            # The helper copy (tens of MB) goes too; logs and configs stay for a post-mortem.
            for path in (self.pam_file, self.pam_file + ".tmp", self.link, self.helper):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            if getattr(self, "_log", None):
                self._log.close()
            if self._holds_privsep:
                self._holds_privsep = False
                _privsep_release()

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def authorize_key(self, user):
        """A fresh ed25519 key that sshd accepts for `user` (with pubkey=True); returns its private key file."""
        os.makedirs(self.keys_dir, mode=0o755, exist_ok=True)
        key = os.path.join(self.dir, f"id_{user}")
        if not os.path.exists(key):
            subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", user, "-f", key], check=True, timeout=30)
        shutil.copyfile(key + ".pub", os.path.join(self.keys_dir, user))
        return key

    def ssh_with_key(self, user, key, command, source=None):
        """The real ssh client with publickey only (no PAM auth runs in sshd); returns CompletedProcess."""
        return subprocess.run([SSH, "-F", "/dev/null", "-p", str(self.port), "-b", source or client_address(),
                               "-i", key, "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey",
                               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                               "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
                               f"{user}@127.0.0.1", command], capture_output=True, text=True, timeout=60)

    # -- what the listener holds

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def helpers(self):
        """This instance's running helper processes."""
        return processes_running(self.helper)

    def connections(self):
        """Processes below the listener (per-connection sshd processes, PAM subprocesses, helpers)."""
        return descendants(self.proc.pid)

    # -- the client

    def ssh(self, user, source=None, command=("id", "-un"), tries=1, extra=(), timeout=30):
        """The real ssh client, keyboard-interactive only, from its own source address. tries=1
        (NumberOfPasswordPrompts) makes one refused sign-in end the client with "Permission
        denied"; tries=None keeps ssh's default of 3, where a refusal starts a fresh sign-in."""
        source = source or client_address()
        args = ["-F", "/dev/null", "-p", str(self.port), "-b", source,
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "PreferredAuthentications=keyboard-interactive", "-o", "PubkeyAuthentication=no",
                "-o", "ConnectTimeout=10", *extra]
        if tries is not None:
            args += ["-o", f"NumberOfPasswordPrompts={tries}"]
        child = pexpect.spawn(SSH, [*args, f"{user}@127.0.0.1", *command], encoding="utf-8",
                              timeout=timeout, codec_errors="replace")
        child.source = source
        return child


def read_prompt(child, timeout=30):
    """Waits for the Redirect URL prompt; returns (everything shown in that round, the sign-in URL)."""
    child.expect_exact(PROMPT, timeout=timeout)
    shown = child.before
    m = URL_RE.search(shown)
    assert m, shown
    return shown, m.group(1)


def finish(child, timeout=30):
    """Waits for ssh to end; returns (everything it printed after the last expect, exit status)."""
    child.expect(pexpect.EOF, timeout=timeout)
    out = child.before
    child.close()
    return out, child.exitstatus


def sign_in(sshd, user, credentials, paste=True, source=None, timeout=30):
    """One whole login: prompt, browser sign-in, paste (or loopback + Enter), `id -un`.
    Returns (output after the prompt, ssh's exit status, the text of the prompt round)."""
    child = sshd.ssh(user, source=source, timeout=timeout)
    try:
        shown, url = read_prompt(child, timeout)
        answer_prompt(child, url, credentials, paste)
        out, status = finish(child, timeout)
        return out, status, shown
    finally:
        if child.isalive():
            child.terminate(force=True)


def output_lines(out):
    return [l.strip() for l in out.replace("\r", "").split("\n") if l.strip()]
