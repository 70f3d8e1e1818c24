"""Issue 6 acceptance: the admin's commands run as an admin runs them.

`cognito-auth test EMAIL` against the Cognito emulator, driven through a pseudo-terminal (pexpect)
like a person at a terminal, or through pipes for --json and non-TTY runs; `cognito-auth doctor`
against a test sshd_config (a real `sshd -T`), a test pam.d directory and the emulator."""
import json
import os
import re
import select
import subprocess
import tempfile
import time
import types

import pexpect
import pytest

from harness import (CLIENT_ID, HELPER, ROOT, Browser, LocalAccounts, PamSetup, free_port, read_prompt, sample_pool,
                     write_private, URL_RE)
from qr_decode import qr_payload
from relay_harness import HOST_SECRET, Person, Relay

ALICE = ("alice@example.com", "Alice-pw-1")
BOB = ("bob@example.com", "Bob-pw-1")
# Local accounts of this module only (concurrent test runs must not share alice/bob).
ALICE_LOCAL = f"clia{os.getpid() % 100000}"
BOB_LOCAL = f"clib{os.getpid() % 100000}"
# "✓ NAME: DETAIL (N ms)"; token checks are named "token: CHECK", claim rules "require_claims CLAIM".
STEP_RE = re.compile(r"^([✓✗]) ((?:token: |rule: )?(?:require_claims \S+|[^:]+)): .* \((\d+) ms\)\s*$")
COUNTDOWN_RE = r"\x1b7\x1b\[\d+A\r  waiting for the sign-in: (\d+) s left\x1b\[K\x1b8"


@pytest.fixture(scope="module")
def accounts():
    a = LocalAccounts()
    a.ensure(ALICE_LOCAL)
    a.ensure(BOB_LOCAL)
    yield a
    a.cleanup()


@pytest.fixture(scope="module")
def relay_port():
    return free_port()


@pytest.fixture(scope="module")
def emulator(redirect_uris, relay_port):
    # The sample pool, with the module's relay's callback registered too (flow = relay).
    with sample_pool(redirect_uris + [f"http://127.0.0.1:{relay_port}/callback"]) as e:
        yield e


@pytest.fixture(scope="module")
def relay(workdir, emulator, relay_port):
    r = Relay(workdir, emulator, port=relay_port, name="cli-relay")
    try:
        yield r.start()
    finally:
        r.stop()


def device_mode(emulator, enabled):
    import requests
    r = requests.post(emulator.base + "/_emulator/device", json={"enabled": enabled, "interval": 1}, timeout=5)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def account_map(workdir):
    path = os.path.join(workdir, "accounts")
    write_private(path, f"alice@example.com {ALICE_LOCAL}\nbob@example.com {BOB_LOCAL}\n", mode=0o644)
    return path


@pytest.fixture(scope="module")
def setup(workdir, emulator, redirect_uris, accounts, account_map):
    """A root-owned 0600 config (harness.PamSetup) with allowed_groups = linux-admins."""
    return PamSetup(workdir, emulator, redirect_uris, extra_config=f"account_map = file:{account_map}\n")


def dead_issuer():
    """An issuer on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}/us-east-1_Example"


_children = []


@pytest.fixture(autouse=True)
def _no_test_process_outlives_its_test():
    """A failed assertion must not leave `cognito-auth test` running: it would hold its callback port
    (and then stand as a zombie) for the tests after it."""
    yield
    while _children:
        child = _children.pop()
        if child.isalive():
            child.terminate(force=True)
        child.close()


def spawn_test(email, config, *extra):
    """`cognito-auth test` on a pseudo-terminal, as an admin runs it."""
    child = pexpect.spawn(HELPER, ["test", email, "--config", config, *extra], encoding="utf-8", timeout=30,
                          dimensions=(50, 400))
    _children.append(child)
    return child


def finish(child):
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    return child.before, child.exitstatus


def steps(output):
    """The step lines: [(mark, name, ms)]."""
    out = []
    for line in output.replace("\r", "").splitlines():
        m = STEP_RE.match(line)
        if m:
            out.append((m.group(1), m.group(2), int(m.group(3))))
    return out


def run_test_json(email, credentials, config):
    """`cognito-auth test --json` with stdout, stderr and stdin as pipes. Returns (stdout, stderr, rc)."""
    p = subprocess.Popen([HELPER, "test", email, "--config", config, "--json"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown = read_until(p.stderr, b"Redirect URL: ")
    m = URL_RE.search(shown)
    assert m, shown
    p.stdin.write((Browser().sign_in(m.group(1), *credentials) + "\n").encode())
    p.stdin.flush()
    out, err = p.communicate(timeout=30)
    return out.decode(), shown + err.decode(), p.returncode


def read_until(stream, marker, timeout=15):
    """Reads a pipe until `marker` appears (without blocking past the timeout)."""
    data = b""
    deadline = time.time() + timeout
    while marker not in data:
        left = deadline - time.time()
        assert left > 0, data
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, data
            data += chunk
    return data.decode()


# ---------------------------------------------------------------- cognito-auth test

def test_allowed_person_every_step_passes_with_its_time_and_a_countdown(setup):
    child = spawn_test("alice@example.com", setup.config)
    shown, url = read_prompt(child)
    assert "Sign in to" in shown and "with your Cognito account" in shown
    # On a terminal, a status line above the prompt counts down to login_timeout (60 s) ...
    assert re.search(r"waiting for the sign-in: (60|59) s left", shown), shown
    # ... and is redrawn in place while the person signs in.
    child.expect(COUNTDOWN_RE, timeout=3)
    first = int(child.match.group(1))
    child.expect(COUNTDOWN_RE, timeout=3)
    assert int(child.match.group(1)) < first <= 60
    location = Browser().sign_in(url, *ALICE)
    child.sendline(location)
    out, rc = finish(child)
    assert rc == 0, out
    found = steps(out)
    names = [n for _, n, _ in found]
    for expected in ["config", "discovery", "sign-in", "JWKS", "token: algorithm", "token: signature", "token: issuer",
                     "token: audience", "token: expiry", "token: nonce", "token: at_hash", "token: email_verified",
                     "email is alice@example.com", "account mapping", "local account", "allowed_groups",
                     # The safe defaults (issue 10), each a step of its own.
                     "rule: min_uid", "rule: allow_root", "rule: account_map",
                     "rule: allowed_groups", "min_uid / allow_root"]:
        assert expected in names, (expected, names, out)
    assert found and all(mark == "✓" for mark, _, _ in found), out
    assert sum(1 for n in names if n.startswith("token: ")) >= 8, names
    assert "✓ verdict: ALLOWED — allowed (ok)" in out
    assert f"alice@example.com → {ALICE_LOCAL}" in out
    # The sign-in step took the browser round; its time is shown.
    assert dict((n, ms) for _, n, ms in found)["sign-in"] > 0
    # Never an authorization code, a secret or a token in what the command printed (the terminal
    # echoes the pasted address itself; that line is the person's input).
    printed = out.replace(location, "")
    code = re.search(r"[?&]code=([^&]+)", location).group(1)
    assert code not in printed and "itest-secret-value" not in printed and "eyJ" not in printed


def test_group_refusal_exits_1_and_names_the_rule(setup):
    child = spawn_test("bob@example.com", setup.config)
    _, url = read_prompt(child)
    child.sendline(Browser().sign_in(url, *BOB))
    out, rc = finish(child)
    assert rc == 1, out
    found = steps(out)
    failed = [n for mark, n, _ in found if mark == "✗"]
    assert failed == ["allowed_groups"], out
    assert re.search(r"✗ allowed_groups: groups \[staff\] include none of linux-admins \(\d+ ms\)", out), out
    assert "✗ verdict: REFUSED — policy_denied (group_not_allowed): allowed_groups (service sshd)" in out
    # Everything before the rule passed.
    assert all(mark == "✓" for mark, n, _ in found if n != "allowed_groups"), out


def test_signing_in_as_someone_else_is_refused(setup):
    child = spawn_test("alice@example.com", setup.config)
    _, url = read_prompt(child)
    child.sendline(Browser().sign_in(url, *BOB))
    out, rc = finish(child)
    assert rc == 1, out
    assert "✗ email is alice@example.com: signed in as bob@example.com" in out
    assert "account_mismatch" in out


def test_service_option_applies_that_services_policy(workdir, emulator, redirect_uris, accounts, account_map):
    s = PamSetup(workdir, emulator, redirect_uris,
                 extra_config=f"account_map = file:{account_map}\n[service sudo]\nallowed_groups = staff\n")
    child = spawn_test("bob@example.com", s.config, "--service", "sudo")
    _, url = read_prompt(child)
    child.sendline(Browser().sign_in(url, *BOB))
    out, rc = finish(child)
    assert rc == 0, out
    assert "✓ allowed_groups: member of staff" in out


def test_emulator_down_exits_3(workdir, redirect_uris, accounts, account_map):
    s = PamSetup(workdir, types.SimpleNamespace(issuer=dead_issuer()), redirect_uris,
                 extra_config=f"account_map = file:{account_map}\n")
    child = spawn_test("alice@example.com", s.config)
    out, rc = finish(child)
    assert rc == 3, out
    assert re.search(r"✗ discovery: .*\(\d+ ms\)", out), out
    assert "REFUSED — unavailable (idp_unavailable)" in out
    assert "Redirect URL" not in out, "no sign-in link when the IdP cannot be reached"


def test_emulator_down_json(workdir, redirect_uris, accounts, account_map):
    s = PamSetup(workdir, types.SimpleNamespace(issuer=dead_issuer()), redirect_uris)
    p = subprocess.run([HELPER, "test", "alice@example.com", "--config", s.config, "--json"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 3
    doc = json.loads(p.stdout)
    assert (doc["result"], doc["reason"], doc["exit_code"], doc["verdict"]) == ("unavailable", "idp_unavailable", 3, "refused")


def bad_config(workdir, text):
    d = tempfile.mkdtemp(dir=workdir)
    path = os.path.join(d, "cognito-auth.conf")
    write_private(path, text)
    return path


GOOD_HEAD = "region = us-east-1\nuser_pool_id = us-east-1_Example\nclient_id = itest-client\n"


def test_bad_config_exits_2_naming_file_and_line(workdir):
    path = bad_config(workdir, GOOD_HEAD + "# a comment\nlogin_timeout = soon\n")
    child = spawn_test("alice@example.com", path)
    out, rc = finish(child)
    assert rc == 2, out
    assert f"✗ config: {path}:5: login_timeout: must be a whole number" in out, out
    assert "REFUSED — config_error (config_invalid)" in out
    # An unknown key and an unsafe mode are configuration errors too.
    path = bad_config(workdir, GOOD_HEAD + "colour = blue\n")
    out, rc = finish(spawn_test("alice@example.com", path))
    assert rc == 2 and f"{path}:4: colour: unknown key" in out, out
    path = bad_config(workdir, GOOD_HEAD)
    os.chmod(path, 0o666)
    out, rc = finish(spawn_test("alice@example.com", path))
    assert rc == 2 and "must not be writable by group or others" in out, out


def test_bad_config_json_is_one_document_on_stdout(workdir):
    path = bad_config(workdir, GOOD_HEAD + "login_timeout = soon\n")
    p = subprocess.run([HELPER, "test", "alice@example.com", "--config", path, "--json"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert (doc["result"], doc["reason"], doc["exit_code"]) == ("config_error", "config_invalid", 2)
    assert f"{path}:4: login_timeout" in doc["detail"]
    assert doc["steps"][0]["name"] == "config" and doc["steps"][0]["ok"] is False


def test_json_parses_and_carries_the_same_verdict(setup):
    out, err, rc = run_test_json("alice@example.com", ALICE, setup.config)
    assert rc == 0, (out, err)
    doc = json.loads(out)          # stdout holds the document and nothing else
    assert out.strip().count("\n") == 0
    assert (doc["result"], doc["reason"], doc["exit_code"], doc["verdict"]) == ("allowed", "ok", 0, "allowed")
    assert doc["local_user"] == ALICE_LOCAL and doc["email"] == "alice@example.com" and doc["groups"] == ["linux-admins"]
    assert all(s["ok"] for s in doc["steps"]), doc["steps"]
    names = [s["name"] for s in doc["steps"]]
    # The safe-default rules follow the config, one step each (issue 10).
    assert names[:5] == ["config", "rule: min_uid", "rule: allow_root", "rule: account_map", "rule: allowed_groups"], names
    assert names[5:8] == ["discovery", "sign-in", "JWKS"], names
    assert all(isinstance(s["ms"], (int, float)) for s in doc["steps"])
    # The link and the prompt went to stderr, without a countdown (--json never draws one).
    assert "oauth2/authorize" in err and "Redirect URL: " in err
    assert "s left" not in err and "\x1b" not in err and "\x1b" not in out

    out, err, rc = run_test_json("bob@example.com", BOB, setup.config)
    assert rc == 1, (out, err)
    doc = json.loads(out)
    assert (doc["result"], doc["reason"], doc["exit_code"], doc["verdict"]) == \
        ("policy_denied", "group_not_allowed", 1, "refused")
    failed = [s["name"] for s in doc["steps"] if not s["ok"]]
    assert failed == ["allowed_groups"], doc["steps"]


def test_no_countdown_when_stdout_is_not_a_terminal(setup):
    p = subprocess.Popen([HELPER, "test", "alice@example.com", "--config", setup.config], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown = read_until(p.stdout, b"Redirect URL: ")
    time.sleep(1.5)
    p.stdin.write(b"this is not a redirect url\n")
    p.stdin.flush()
    out, _ = p.communicate(timeout=30)
    text = shown + out.decode()
    assert p.returncode == 1, text
    assert "s left" not in text and "\x1b" not in text
    assert "bad_redirect" in text


# ---------------------------------------------------------------- cognito-auth doctor

@pytest.fixture(scope="module")
def host_key(workdir):
    """`sshd -T` refuses to run without a host key: make one for the test sshd_configs."""
    path = os.path.join(workdir, "ssh_host_ed25519_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    return path


def sshd_config(workdir, host_key, body):
    d = tempfile.mkdtemp(dir=workdir)
    path = os.path.join(d, "sshd_config")
    with open(path, "w") as f:
        f.write(f"HostKey {host_key}\n{body}")
    return path


GOOD_SSHD = """UsePAM yes
KbdInteractiveAuthentication yes
AuthenticationMethods keyboard-interactive
PasswordAuthentication no
LoginGraceTime 120
"""


def doctor_config(workdir, issuer, redirect_uris, login_timeout=110, extra=""):
    d = tempfile.mkdtemp(dir=workdir)
    os.chmod(d, 0o755)
    secret = os.path.join(d, "client-secret")
    write_private(secret, "itest-secret-value\n")
    path = os.path.join(d, "cognito-auth.conf")
    write_private(path, f"""region = us-east-1
user_pool_id = us-east-1_Example
client_id = {CLIENT_ID}
client_secret_file = {secret}
issuer = {issuer}
redirect_uris = {", ".join(redirect_uris)}
allowed_domains = example.com
allowed_groups = linux-admins
login_timeout = {login_timeout}
http_timeout = 3
cache_dir = {d}/cache
state_dir = {d}/state
{extra}""")
    return path


def relay_doctor_config(workdir, issuer, redirect_uris, relay_url, secret=HOST_SECRET, mode=0o600):
    """A doctor config with flow = relay; its relay_secret_file beside it (root, `mode`)."""
    d = tempfile.mkdtemp(dir=workdir)
    os.chmod(d, 0o755)
    secret_file = os.path.join(d, "relay-secret")
    write_private(secret_file, secret + "\n", mode=mode)
    return doctor_config(workdir, issuer, redirect_uris,
                         extra=f"flow = relay\nrelay_url = {relay_url}\nrelay_secret_file = {secret_file}\n"), secret_file


def pam_dir(workdir, config, sshd_text=None, sudo_text=None):
    d = tempfile.mkdtemp(dir=workdir)
    line = f"auth required pam_cognito.so config={config}\n"
    with open(os.path.join(d, "sshd"), "w") as f:
        f.write(sshd_text if sshd_text is not None else "# PAM for sshd\n" + line + "account required pam_unix.so\n")
    with open(os.path.join(d, "sudo"), "w") as f:
        f.write(sudo_text if sudo_text is not None else line + "account required pam_unix.so\n")
    with open(os.path.join(d, "common-auth"), "w") as f:
        f.write("auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n")
    return d


def doctor(config, sshd_cfg, pamd, *extra):
    # `sshd -T` needs sshd's privilege separation directory. A Debian host with openssh-server has
    # it while sshd runs; other test modules may remove the one they made, so make sure of it here
    # (and leave it: it is the directory's normal state).
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    p = subprocess.run([HELPER, "doctor", "--config", config, "--sshd-config", sshd_cfg, "--pam-dir", pamd, *extra],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.stdout, p.returncode


def marks(out):
    """{check: mark} from the finding lines."""
    found = {}
    for line in out.splitlines():
        m = re.match(r"^([✓✗!]) (.+?): ", line)
        if m:
            found.setdefault(m.group(2), m.group(1))
    return found


def test_doctor_reports_kbdinteractive_off_and_short_grace_time(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris, login_timeout=110)
    cfg = sshd_config(workdir, host_key, "UsePAM yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication no\n"
                                         "PasswordAuthentication no\nLoginGraceTime 30\n")
    out, rc = doctor(config, cfg, pam_dir(workdir, config))
    assert rc == 1, out
    m = marks(out)
    assert m["sshd KbdInteractiveAuthentication"] == "✗" and m["sshd LoginGraceTime"] == "✗", out
    assert m["sshd UsePAM"] == "✓" and m["sshd AuthenticationMethods"] == "✓", out
    assert f"fix: KbdInteractiveAuthentication yes    (in {cfg}" in out
    assert "30 s is not more than login_timeout (110 s)" in out
    assert "fix: LoginGraceTime 120" in out
    # Everything else about this setup is fine: these two findings are what fails.
    assert [k for k, v in m.items() if v == "✗"] == ["sshd KbdInteractiveAuthentication", "sshd LoginGraceTime"], out
    assert out.rstrip().splitlines()[-1].startswith("✗ 2 failed")


def test_doctor_reads_the_rest_when_sshd_refuses_its_authentication_methods(workdir, host_key, emulator, redirect_uris):
    # `sshd -T` itself refuses AuthenticationMethods keyboard-interactive with it disabled; doctor
    # says so and still judges the other settings.
    config = doctor_config(workdir, emulator.issuer, redirect_uris, login_timeout=110)
    cfg = sshd_config(workdir, host_key, "UsePAM yes\nKbdInteractiveAuthentication no\n"
                                         "AuthenticationMethods keyboard-interactive\nLoginGraceTime 30\n")
    out, rc = doctor(config, cfg, pam_dir(workdir, config))
    assert rc == 1, out
    m = marks(out)
    assert (m["sshd KbdInteractiveAuthentication"], m["sshd LoginGraceTime"], m["sshd AuthenticationMethods"]) == ("✗", "✗", "✗")
    assert "sshd refuses this configuration and would not start: Disabled method" in out


def test_doctor_passes_a_good_setup(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 0, out
    m = marks(out)
    assert "✗" not in m.values(), out
    # The safe defaults, each a finding of its own (issue 10).
    for check in ["min_uid", "allow_root", "allowed_domains", "allowed_groups"]:
        assert m.get(check) == "✓", (check, out)
    for check in ["discovery", "JWKS", "sshd UsePAM", "sshd KbdInteractiveAuthentication", "sshd AuthenticationMethods",
                  "sshd LoginGraceTime", f"client_secret_file {os.path.dirname(config)}/client-secret"]:
        assert m.get(check) == "✓", (check, out)
    for uri in redirect_uris:
        port = uri.split(":")[2].split("/")[0]
        assert m.get(f"redirect port {port}") == "✓", out
    assert m[f"config {config}"] == "✓"
    # Both PAM files carry the line, required, and nothing admits without it.
    pam_lines = [l for l in out.splitlines() if "/sshd" in l.split(":")[0] or "/sudo" in l.split(":")[0]]
    assert sum("— required" in l for l in pam_lines) == 2, out
    assert sum("stack order: a Cognito sign-in admits" in l for l in pam_lines) == 2, out


def test_doctor_json_output(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD.replace("LoginGraceTime 120", "LoginGraceTime 30")),
                     pam_dir(workdir, config), "--json")
    assert rc == 1
    doc = json.loads(out)
    assert doc["exit_code"] == 1
    failed = [f for f in doc["findings"] if f["status"] == "fail"]
    assert [f["check"] for f in failed] == ["sshd LoginGraceTime"]
    assert failed[0]["fix"].startswith("LoginGraceTime 120")


def test_doctor_judges_the_pam_stack(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris)
    sshd_text = ("auth sufficient pam_unix.so\n"                     # a password would bypass Cognito
                 f"auth required pam_cognito.so config={config}\n")
    pamd = pam_dir(workdir, config, sshd_text=sshd_text, sudo_text="@include common-auth\n")
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pamd)
    assert rc == 0, out        # warnings only
    assert f"! {pamd}/sshd: admits without Cognito when `auth sufficient pam_unix.so` ({pamd}/sshd:1)" in out, out
    assert "line 1: auth sufficient pam_unix.so" in out
    assert f"! {pamd}/sudo: no pam_cognito.so line in the auth stack" in out
    assert f"add before line 1 (`@include common-auth`):\n         auth required pam_cognito.so config={config}" in out

    # Without the line in sshd's stack, doctor fails and shows the line to add.
    pamd = pam_dir(workdir, config, sshd_text="@include common-auth\naccount required pam_unix.so\n")
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pamd)
    assert rc == 1, out
    assert f"✗ {pamd}/sshd: no pam_cognito.so line in the auth stack" in out
    # An argument the module would refuse is a failure too.
    pamd = pam_dir(workdir, config, sshd_text=f"auth required pam_cognito.so config={config} verbose\n")
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pamd)
    assert rc == 1 and "does not accept 'verbose'" in out, out


def test_doctor_config_problems_exit_2(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris)
    secret = os.path.join(os.path.dirname(config), "client-secret")
    os.chmod(secret, 0o644)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 2, out
    assert f"✗ client_secret_file {secret}: owner uid 0, mode 0644" in out
    assert f"fix: chmod 600 {secret}" in out
    path = bad_config(workdir, GOOD_HEAD + "login_timeout = soon\n")
    out, rc = doctor(path, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, path))
    assert rc == 2 and f"✗ config: {path}:4: login_timeout" in out, out


def test_doctor_unreachable_idp_exits_3(workdir, host_key, redirect_uris):
    config = doctor_config(workdir, dead_issuer(), redirect_uris)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 3, out
    assert re.search(r"^✗ discovery: unreachable", out, re.M), out
    assert "fix: check DNS, proxy, firewall and ca_file" in out


# ---------------------------------------------------------------- man pages

MAN = os.path.join(ROOT, "contrib", "man")
MAN_PAGES = ["cognito-auth.8", "pam_cognito.8", "cognito-auth.conf.5", "cognito-auth-relay.8"]


def man_source(name):
    with open(os.path.join(MAN, name)) as f:
        return f.read()


@pytest.mark.parametrize("page", MAN_PAGES)
def test_man_page_renders_without_warnings(page):
    path = os.path.join(MAN, page)
    p = subprocess.run(["groff", "-ww", "-man", "-Tutf8", path], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = subprocess.run(["man", "-l", path], capture_output=True, text=True, env=dict(os.environ, MANWIDTH="80", MANPAGER="cat"))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "NAME" in p.stdout and "SEE ALSO" in p.stdout


def config_keys():
    """Every key README's configuration table documents, and every key the parser accepts."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    keys = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    with open(os.path.join(ROOT, "Sources", "CognitoAuthCore", "Config", "ConfigParser.swift")) as f:
        parser = f.read()
    block = re.search(r"topLevelKeys: Set<String> = \[(.*?)\]", parser, re.S).group(1)
    keys |= set(re.findall(r'"([a-z_]+)"', block))
    assert len(keys) >= 20, keys
    return sorted(keys)


def test_config_man_page_documents_every_key():
    src = man_source("cognito-auth.conf.5")
    missing = [k for k in config_keys() if not re.search(rf'^\.BI {k} " = "', src, re.M)]
    assert not missing, missing


def subcommands_and_options():
    """{subcommand: [--option, ...]} from the built binary's own help."""
    top = subprocess.run([HELPER, "--help"], capture_output=True, text=True).stdout
    subs = re.findall(r"^  ([a-z-]+)  ", top.split("SUBCOMMANDS:", 1)[1], re.M)
    out = {}
    for sub in subs:
        text = subprocess.run([HELPER, sub, "--help"], capture_output=True, text=True).stdout
        out[sub] = sorted(set(re.findall(r"^  (--[a-z-]+)", text, re.M)) - {"--help"})
    return out


def test_command_man_page_documents_every_command_option_and_exit_code():
    src = man_source("cognito-auth.8")
    found = subcommands_and_options()
    assert {"test", "doctor", "verify-token"} <= set(found), found
    for sub, opts in found.items():
        assert re.search(rf"^\.B {sub}$", src, re.M), f"{sub} missing from the SYNOPSIS"
        assert re.search(rf"^\.SS \"?{sub}\b", src, re.M), f"{sub} has no section"
        for opt in opts:
            assert opt.replace("-", r"\-") in src, (sub, opt)
    assert "cognito-auth-helper" in src and "pam-helper" not in found, "the module runs its own helper program"
    exit_status = src.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
    for code in "0123":
        assert f".B {code}\n" in exit_status


def test_module_man_page_documents_arguments_and_pam_codes():
    src = man_source("pam_cognito.8")
    for arg in ["config=", "helper=", "debug", "ignore_unknown_user"]:
        assert re.search(rf"^\.(B|BI) {re.escape(arg)}", src, re.M), arg
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    codes = set(re.findall(r"`(PAM_[A-Z_]+)`", readme.split("### PAM results", 1)[1].split("\n## ", 1)[0]))
    assert {"PAM_SUCCESS", "PAM_AUTH_ERR", "PAM_AUTHINFO_UNAVAIL"} <= codes
    values = src.split(".SH RETURN VALUES", 1)[1].split(".SH ", 1)[0]
    for code in sorted(codes | {"PAM_PERM_DENIED", "PAM_IGNORE"}):
        assert f".B {code}\n" in values, code


def test_doctor_warns_about_every_pool_user_and_root(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris)
    with open(config) as f:
        text = f.read().replace("allowed_groups = linux-admins\n", "allowed_groups = *\nallow_root = yes\n")
    write_private(config, text)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 0, out             # warnings, not failures
    m = marks(out)
    assert (m["allowed_groups"], m["allow_root"]) == ("!", "!"), out
    assert "allowed_groups = * admits every user of the pool" in out
    assert "fix: name the groups that may sign in" in out


def test_doctor_names_a_missing_safe_default(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris)
    with open(config) as f:
        text = f.read().replace("allowed_domains = example.com\n", "")
    write_private(config, text)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 2, out
    assert "allowed_domains: account_map = localpart (the default) needs allowed_domains" in out, out


# ---------------------------------------------------------------- doctor and test know the flow (issue 12)

def test_doctor_flow_device_needs_the_idps_device_endpoint(workdir, host_key, emulator, redirect_uris):
    config = doctor_config(workdir, emulator.issuer, redirect_uris, extra="flow = device\n")
    device_mode(emulator, False)        # Cognito's discovery: no device_authorization_endpoint
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 2, out
    assert marks(out)["flow device"] == "✗", out
    assert "lists no device_authorization_endpoint" in out and "fix: use flow = relay" in out
    device_mode(emulator, True)
    try:
        out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    finally:
        device_mode(emulator, False)
    assert rc == 0, out
    assert re.search(r"^✓ flow device: device_authorization_endpoint http://127\.0\.0\.1:\d+/\S+$", out, re.M), out
    # The loopback redirect ports are the code flow's; a device flow does not need them.
    assert "redirect port" not in out


def test_doctor_flow_relay_passes_with_a_safe_secret_and_a_live_relay(workdir, host_key, emulator, redirect_uris, relay):
    config, secret = relay_doctor_config(workdir, emulator.issuer, redirect_uris, relay.base)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 0, out
    m = marks(out)
    assert m[f"relay_secret_file {secret}"] == "✓" and m["relay"] == "✓", out
    assert f"✓ relay: {relay.base}/healthz answered 200" in out
    assert HOST_SECRET not in out and "redirect port" not in out


@pytest.mark.parametrize("case", ["group_readable", "world_readable", "not_root", "missing"])
def test_doctor_flow_relay_fails_on_an_unsafe_or_missing_secret(workdir, host_key, emulator, redirect_uris, relay, case):
    config, secret = relay_doctor_config(workdir, emulator.issuer, redirect_uris, relay.base,
                                         mode={"group_readable": 0o640, "world_readable": 0o604}.get(case, 0o600))
    if case == "not_root":
        os.chown(secret, 65534, 65534)
    if case == "missing":
        os.unlink(secret)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 2, out
    assert marks(out)[f"relay_secret_file {secret}"] == "✗", out
    if case == "missing":
        assert f"fix: install -m 0600 -o root -g root /dev/null {secret}" in out, out
    else:
        assert "a secret must be owned by root and readable by no one else" in out, out
        assert f"chmod 600 {secret}" in out
    assert HOST_SECRET not in out


def test_doctor_flow_relay_fails_when_the_relay_does_not_answer(workdir, host_key, emulator, redirect_uris):
    dead = f"http://127.0.0.1:{free_port()}"
    config, _ = relay_doctor_config(workdir, emulator.issuer, redirect_uris, dead)
    out, rc = doctor(config, sshd_config(workdir, host_key, GOOD_SSHD), pam_dir(workdir, config))
    assert rc == 3, out
    assert re.search(rf"^✗ relay: {re.escape(dead)}/healthz unreachable", out, re.M), out
    assert "fix: check that cognito-auth-relay runs" in out


def relay_test_config(workdir, emulator, redirect_uris, relay, account_map, qr):
    d = tempfile.mkdtemp(dir=workdir)
    os.chmod(d, 0o755)
    secret = os.path.join(d, "relay-secret")
    write_private(secret, HOST_SECRET + "\n")
    return PamSetup(workdir, emulator, redirect_uris, extra_config=(
        f"account_map = file:{account_map}\nflow = relay\nrelay_url = {relay.base}\nrelay_secret_file = {secret}\nqr = {qr}\n")).config


def test_test_command_runs_the_relay_flow_and_draws_the_qr_code_on_a_terminal(workdir, emulator, redirect_uris, accounts,
                                                                              account_map, relay):
    config = relay_test_config(workdir, emulator, redirect_uris, relay, account_map, qr="auto")
    child = spawn_test("alice@example.com", config)
    child.expect_exact("Press Enter after you have signed in: ")
    shown = child.before
    m = re.search(r"or go straight to (\S+)", shown)
    assert m and "/oauth2/authorize" not in shown, shown
    # qr = auto on a terminal: the QR code is drawn, and reads back as the link shown.
    assert qr_payload(shown) == m.group(1), shown
    page = Person().sign_in(m.group(1), *ALICE)
    assert "return to your terminal" in page.text.lower()
    child.sendline("")
    out, rc = finish(child)
    assert rc == 0, out
    assert "✓ verdict: ALLOWED — allowed (ok)" in out
    assert re.search(r"^✓ sign-in: flow=relay", out.replace("\r", ""), re.M), out
    assert f"relay-secret (uid 0, mode 0600)" in out


def test_test_command_draws_no_qr_code_with_qr_never(workdir, emulator, redirect_uris, accounts, account_map, relay):
    config = relay_test_config(workdir, emulator, redirect_uris, relay, account_map, qr="never")
    child = spawn_test("alice@example.com", config)
    child.expect_exact("Press Enter after you have signed in: ")
    shown = child.before
    assert not any(c in shown for c in "\u2580\u2584\u2588"), shown
    m = re.search(r"or go straight to (\S+)", shown)
    Person().sign_in(m.group(1), *ALICE)
    child.sendline("")
    out, rc = finish(child)
    assert rc == 0, out
