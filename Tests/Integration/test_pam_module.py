"""pam_cognito.so through the real PAM stack.

pamtester (Debian's) runs a service file from a per-test directory under
pam_wrapper; the module starts a fake helper from fake_helpers/ that the test
steers with the JSON file passed as `config=`. The module's pam_syslog lines
reach stderr through pam_wrapper at PAM_WRAPPER_DEBUGLEVEL=3 ("SYSLOG(n): …").

The contract under test is pam/PROTOCOL.md and DESIGN.md §3: nothing but a
well-formed "allowed for PAM_USER" followed by a clean exit 0 is a success.

Run: python3 -m pytest -q Tests/Integration/test_pam_module.py
"""
import ctypes
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pexpect
import pytest

from harness import safe_bin, safe_copy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PAM_DIR = ROOT / "pam"
MODULE = PAM_DIR / "pam_cognito.so"
# The module runs only a helper on a root-owned, non-writable path: fake helpers run from a copy
# in the harness's safe directory (the `module` fixture makes it).
FAKES_SRC = HERE / "fake_helpers"
FAKES = None
T = 30  # seconds: no single run may take longer, so a bug cannot hang the suite
DEBIAN_PACKAGES = ["libpam0g-dev", "libpam-wrapper", "pamtester"]


def _pam_constants():
    """PAM codes and styles from the same header the module is built with."""
    text = Path("/usr/include/security/_pam_types.h").read_text()
    return {m[1]: int(m[2], 0) for m in re.finditer(r"#define\s+(PAM_\w+)\s+(0x[0-9a-fA-F]+|\d+)", text)}


def _strerror(code):
    os.environ.setdefault("LANG", "C")
    pam = ctypes.CDLL("libpam.so.0")
    pam.pam_strerror.restype = ctypes.c_char_p
    pam.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return pam.pam_strerror(None, code).decode()


def pam_message(name):
    """What pamtester prints for a PAM code (its pam_strerror text)."""
    return "successfully authenticated" if name == "PAM_SUCCESS" else _strerror(PAM[name])


PAM = _pam_constants() if Path("/usr/include/security/_pam_types.h").exists() else {}


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def module():
    missing = [p for p in DEBIAN_PACKAGES
               if subprocess.run(["dpkg", "-s", p], capture_output=True, timeout=T).returncode != 0]
    if missing and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing],
                       check=True, timeout=600, capture_output=True)
    assert shutil.which("pamtester"), "pamtester is needed: apt-get install " + " ".join(DEBIAN_PACKAGES)
    assert os.geteuid() == 0, "the module requires a root-owned helper: run as root"
    global FAKES
    FAKES = Path(safe_copy(str(FAKES_SRC), "fake_helpers"))
    subprocess.run(["make", "-C", str(PAM_DIR)], check=True, timeout=120, capture_output=True)
    assert MODULE.exists()
    global PAM
    PAM = _pam_constants()
    return MODULE


class Run:
    def __init__(self, text, output, logs, returncode, elapsed):
        self.text, self.output, self.logs = text, output, logs
        self.returncode, self.elapsed = returncode, elapsed

    def log_has(self, text):
        return any(text in line for line in self.logs)


class Stack:
    """A PAM service directory for one test, and ways to run pamtester on it."""

    def __init__(self, tmp_path, module):
        self.dir = tmp_path / "pam.d"
        self.dir.mkdir()
        (self.dir / "other").write_text("auth required pam_deny.so\naccount required pam_deny.so\n")
        self.tmp = tmp_path
        self.conf_path = tmp_path / "conf.json"
        self.record_path = tmp_path / "record.json"
        self.module = module

    def line(self, helper, args="", kind="auth", control="required"):
        helper_path = helper if str(helper).startswith("/") else FAKES / helper
        return "%s %s %s helper=%s config=%s %s\n" % (
            kind, control, self.module, helper_path, self.conf_path, args)

    def service(self, helper="well_behaved", args="", conf=None, text=None, name="svc"):
        """One auth line for the module, unless `text` gives the whole file."""
        self.conf(conf or {})
        (self.dir / name).write_text(text if text is not None else self.line(helper, args))

    def conf(self, conf):
        conf = dict(conf)
        conf.setdefault("record", str(self.record_path))
        self.conf_path.write_text(json.dumps(conf))

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAM_WRAPPER", "LD_PRELOAD"))}
        env.update(LANG="C", LC_ALL="C", LD_PRELOAD="libpam_wrapper.so", PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=str(self.dir), PAM_WRAPPER_DEBUGLEVEL="3", **extra)
        return env

    def argv(self, user, ops, items):
        argv = ["pamtester"]
        for k, v in (items or {}).items():
            argv += ["-I", "%s=%s" % (k, v)]
        return argv + ["svc", user, *ops]

    def run(self, user="alice", ops=("authenticate",), items=None, prefix=(), env=None, input=""):
        """pamtester with stdin from `input`: misc_conv reads answers from a pipe too."""
        start = time.monotonic()
        p = subprocess.run([*prefix, *self.argv(user, ops, items)], env=self.env(**(env or {})),
                           input=input, capture_output=True, text=True, errors="replace", timeout=T)
        return self._result(p.stdout + p.stderr, p.returncode, time.monotonic() - start)

    def spawn(self, user="alice", ops=("authenticate",), items=None):
        argv = self.argv(user, ops, items)
        child = pexpect.spawn(argv[0], argv[1:], env=self.env(), timeout=T, encoding="utf-8")
        child.logfile_read = io.StringIO()   # everything, not only what follows the last expect
        child.started = time.monotonic()
        return child

    def finish(self, child):
        child.expect(pexpect.EOF)
        child.close()
        return self._result(child.logfile_read.getvalue(), child.exitstatus,
                            time.monotonic() - child.started)

    @staticmethod
    def _result(text, rc, elapsed):
        lines = text.splitlines()
        logs = [l.split("SYSLOG(", 1)[1] for l in lines if "SYSLOG(" in l]
        output = [l.split("pamtester: ", 1)[1] for l in lines if "pamtester: " in l]
        return Run(text, output, logs, rc, elapsed)

    def record(self):
        return json.loads(self.record_path.read_text())


@pytest.fixture
def stack(tmp_path, module):
    return Stack(tmp_path, module)


def assert_code(run, name):
    assert pam_message(name) in run.output, (name, run.output, run.logs)
    if name != "PAM_SUCCESS":
        assert run.returncode != 0
        assert pam_message("PAM_SUCCESS") not in run.output


def helper_processes(name):
    """Processes whose command line names this fake helper."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes()
        except OSError:
            continue
        if str(FAKES / name).encode() in cmdline:
            found.append(int(pid))
    return found


# Frames for the `malformed` helper: lists of fields ({user} = PAM_USER), or {"raw": hex}.
HELLO = ["HELLO", "2", "30"]
ALLOWED = ["RESULT", "allowed", "{user}", "ok"]
PROMPT_CONV = [["info", "Open https://example.test/authorize?x=1 to sign in"],
               ["prompt_echo_on", "Redirect URL: "]]


# ---------------------------------------------------------------- the binary

def test_module_exports_only_pam_sm_entry_points(module):
    out = subprocess.run(["nm", "-D", "--defined-only", str(module)], capture_output=True,
                         text=True, check=True, timeout=T).stdout
    symbols = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert symbols == {"pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt"}


def test_module_links_only_libc_and_libpam_and_no_swift_runtime(module):
    ldd = subprocess.run(["ldd", str(module)], capture_output=True, text=True, check=True,
                         timeout=T).stdout
    for forbidden in ("libswift", "libFoundation", "libdispatch"):
        assert forbidden not in ldd
    dyn = subprocess.run(["readelf", "-d", str(module)], capture_output=True, text=True,
                         check=True, timeout=T).stdout
    assert set(re.findall(r"\(NEEDED\).*\[(.*)\]", dyn)) == {"libpam.so.0", "libc.so.6"}


def test_module_is_hardened_full_relro_stack_protector_fortify(module):
    dyn = subprocess.run(["readelf", "-d", "-l", "-W", str(module)], capture_output=True, text=True,
                         check=True, timeout=T).stdout
    assert "BIND_NOW" in dyn and "GNU_RELRO" in dyn
    undefined = subprocess.run(["nm", "-D", "--undefined-only", str(module)], capture_output=True,
                               text=True, check=True, timeout=T).stdout
    assert "__stack_chk_fail" in undefined
    assert "_chk@" in undefined.replace("__stack_chk_fail", "")   # a _FORTIFY_SOURCE variant


def test_make_builds_and_cleans_a_fresh_copy_of_the_sources(module, tmp_path):
    # A copy, so that other tests using pam/pam_cognito.so meanwhile are not disturbed.
    src = tmp_path / "pam"
    shutil.copytree(PAM_DIR, src, ignore=shutil.ignore_patterns("*.so", "*.o"))
    built = subprocess.run(["make", "-C", str(src)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    for flag in ("-fPIC", "-shared", "-Wall", "-Wextra", "-Werror", "-O2", "-D_FORTIFY_SOURCE=2",
                 "-fstack-protector-strong", "-Wl,-z,relro,-z,now", "-Wl,--version-script", "-lpam"):
        assert flag in built.stdout, flag
    assert (src / "pam_cognito.so").exists()
    subprocess.run(["make", "-C", str(src), "clean"], check=True, timeout=T, capture_output=True)
    assert not (src / "pam_cognito.so").exists()


# ---------------------------------------------------------------- the happy path and its conversation

def test_right_answer_for_pam_user_authenticates_and_info_comes_before_prompt(stack):
    stack.service(conf={"conv": PROMPT_CONV, "word": "xyzzy"})
    child = stack.spawn(items={"rhost": "203.0.113.9", "ruser": "remote", "tty": "pts/7"})
    child.expect_exact("Redirect URL: ")
    assert "Open https://example.test/authorize?x=1 to sign in" in child.before
    child.sendline("xyzzy")
    run = stack.finish(child)
    assert_code(run, "PAM_SUCCESS")
    rec = stack.record()
    assert rec["start"] == {"v": "2", "user": "alice", "service": "svc", "rhost": "203.0.113.9",
                            "ruser": "remote", "tty": "pts/7", "config": str(stack.conf_path),
                            "flags": "0"}
    assert rec["verb"] == "ANSWER" and len(rec["answers"]) == 1


def test_wrong_answer_is_auth_error(stack):
    stack.service(conf={"conv": PROMPT_CONV, "word": "xyzzy"})
    child = stack.spawn()
    child.expect_exact("Redirect URL: ")
    child.sendline("plugh")
    assert_code(stack.finish(child), "PAM_AUTH_ERR")


@pytest.mark.parametrize("answer", [
    "with spaces  and  100% & + = ? # / - \t tab",
    "caf\u00e9 \u2713 \U0001F510 \u65e5\u672c",
    "http://localhost:8400/callback?code=abc-123&state=x%2By",
    "",
], ids=["spaces-percent-punct", "unicode", "redirect-url", "empty"])
def test_answer_bytes_reach_the_helper_intact(stack, answer):
    stack.service(conf={"conv": [["prompt_echo_off", "Secret: "]], "word": answer})
    child = stack.spawn()
    child.expect_exact("Secret: ")
    child.sendline(answer)
    run = stack.finish(child)
    assert bytes.fromhex(stack.record()["answers"][0]) == answer.encode()
    assert_code(run, "PAM_SUCCESS")


def test_info_only_round_gets_an_answer_without_responses(stack):
    stack.service(conf={"conv": [["info", "just so you know"], ["error", "and this"],
                                 ["prompt_echo_on", "Word: "]], "word": "w"})
    child = stack.spawn()
    child.expect_exact("just so you know")
    child.expect_exact("and this")
    child.expect_exact("Word: ")
    child.sendline("w")
    assert_code(stack.finish(child), "PAM_SUCCESS")
    assert len(stack.record()["answers"]) == 1


def test_error_only_round_is_shown_and_answered_with_a_bare_answer(stack):
    # What the helper does before a refusal: one CONV with only an error message.
    stack.service(conf={"conv": [["error", "Sign-in refused: not in an allowed group"]], "word": "x"})
    run = stack.run()
    assert "Sign-in refused: not in an allowed group" in run.text
    assert_code(run, "PAM_AUTH_ERR")
    rec = stack.record()
    assert rec["verb"] == "ANSWER" and rec["answers"] == []


def test_end_of_input_at_the_prompt_sends_an_empty_answer(stack):
    # misc_conv turns ^D into a NULL response, which PROTOCOL.md sends as an empty field.
    stack.service(conf={"conv": PROMPT_CONV, "word": "xyzzy"})
    child = stack.spawn()
    child.expect_exact("Redirect URL: ")
    child.sendeof()
    run = stack.finish(child)
    assert_code(run, "PAM_AUTH_ERR")
    assert stack.record()["verb"] == "ANSWER" and stack.record()["answers"] == [""]


def test_person_answering_after_the_deadline_is_refused_not_unavailable(stack):
    # Too slow a person is a refusal: PAM_AUTHINFO_UNAVAIL would let an
    # [authinfo_unavail=ignore] stack fall through to another module (PROTOCOL.md, step 3).
    stack.service(conf={"conv": PROMPT_CONV, "word": "xyzzy", "timeout": 1})
    child = stack.spawn()
    child.expect_exact("Redirect URL: ")
    time.sleep(6.5)   # HELLO said 1 s: the module's deadline is 1 + 5 s
    child.sendline("xyzzy")
    run = stack.finish(child)
    assert_code(run, "PAM_AUTH_ERR")
    assert run.log_has("no answer before the sign-in deadline; helper killed")


def test_helper_that_gave_up_while_the_person_answered_is_a_refusal(stack):
    stack.service("gives_up_before_answer")
    child = stack.spawn()
    child.expect_exact("Redirect URL: ")
    time.sleep(0.5)   # the helper has queued its refusal and RESULT, and exited
    child.sendline("late answer")
    run = stack.finish(child)
    assert child.signalstatus is None
    assert "Sign-in timed out." in run.text
    assert_code(run, "PAM_AUTH_ERR")


def test_helper_gone_before_answer_is_unavailable_without_sigpipe_in_the_host(stack):
    stack.service("vanishes_after_conv")
    child = stack.spawn()
    child.expect_exact("Secret: ")
    time.sleep(0.5)   # let the helper exit, so the module writes ANSWER to a closed socket
    child.sendline("late")
    run = stack.finish(child)
    assert child.signalstatus is None   # pamtester was not killed by SIGPIPE
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")


def test_debug_hands_the_steps_to_the_helper_and_logs_only_the_result_never_the_answer(stack):
    # The helper logs each protocol step (test_pam_login.py checks the real one); the module only
    # tells it `debug` and logs what it returns.
    secret = "code-4711-secret"
    stack.service(args="debug", conf={"conv": PROMPT_CONV, "word": secret})
    child = stack.spawn()
    child.expect_exact("Redirect URL: ")
    child.sendline(secret)
    run = stack.finish(child)
    assert_code(run, "PAM_SUCCESS")
    assert run.log_has("authenticate returns Success"), run.logs
    assert not any("4711" in line for line in run.logs)
    assert stack.record()["start"]["flags"] == "1"


# A PAM application made with ctypes, so a test can count conversation calls
# (pamtester's output cannot tell one call from two) and look at the host
# process afterwards: its children and its SIGCHLD disposition. It uses the
# real libpam with pam_start_confdir on the test's service directory.
CONV_APP = r"""
import ctypes, json, os, signal, sys, time
service_dir, user, mode, answer = sys.argv[1:5]
if mode == "ignore_sigchld":
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
if mode == "setuid_caller":
    # What su or polkit-agent-helper-1 look like to a PAM module: real uid and groups of the
    # caller, effective uid 0, and whatever umask and limits the caller chose.
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
    os.umask(0)
    os.setgroups([1002, 100])
    os.setresgid(1002, 0, 1002)
    os.setresuid(1001, 0, 1001)
    assert os.getresuid() == (1001, 0, 1001) and os.geteuid() == 0
pam = ctypes.CDLL("libpam.so.0")
libc = ctypes.CDLL(None)
libc.calloc.restype = ctypes.c_void_p
libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
libc.strdup.restype = ctypes.c_void_p
libc.strdup.argtypes = [ctypes.c_char_p]
class Msg(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]
class Resp(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]
CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(Msg)),
                        ctypes.POINTER(ctypes.POINTER(Resp)), ctypes.c_void_p)
class Conv(ctypes.Structure):
    _fields_ = [("conv", CONV), ("appdata_ptr", ctypes.c_void_p)]
calls = []
def conv(n, msgs, resp, _):
    calls.append([[msgs[i].contents.msg_style, msgs[i].contents.msg.decode()] for i in range(n)])
    if mode == "fail":
        return 19  # PAM_CONV_ERR
    arr = ctypes.cast(libc.calloc(n, ctypes.sizeof(Resp)), ctypes.POINTER(Resp))
    for i in range(n):
        if msgs[i].contents.msg_style in (1, 2):
            arr[i].resp = libc.strdup(answer.encode())
    resp[0] = arr
    return 0
c = Conv(CONV(conv), None)
h = ctypes.c_void_p()
rc = pam.pam_start_confdir(b"svc", user.encode(), ctypes.byref(c), service_dir.encode(), ctypes.byref(h))
assert rc == 0, rc
rc = pam.pam_authenticate(h, 0)
pam.pam_end(h, rc)
try:
    os.waitpid(-1, os.WNOHANG)
    children = True          # a zombie or a live child is still ours
except ChildProcessError:
    children = False
print(json.dumps({"rc": rc, "calls": calls, "children": children,
                  "sigchld_ignored": signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN}))
"""


def run_conv_app(stack, mode="answer", answer="xyzzy"):
    p = subprocess.run([sys.executable, "-c", CONV_APP, str(stack.dir), "alice", mode, answer],
                       capture_output=True, text=True, timeout=T,
                       env={"PATH": os.environ["PATH"], "LANG": "C"})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_info_and_prompt_reach_the_conversation_in_one_call_in_order(stack):
    stack.service(conf={"conv": PROMPT_CONV, "word": "xyzzy"})
    out = run_conv_app(stack)
    assert out["calls"] == [[[PAM["PAM_TEXT_INFO"], PROMPT_CONV[0][1]],
                             [PAM["PAM_PROMPT_ECHO_ON"], PROMPT_CONV[1][1]]]]
    assert out["rc"] == PAM["PAM_SUCCESS"]


def test_failing_conversation_function_sends_convfail_and_yields_conv_error(stack):
    stack.service(conf={"conv": PROMPT_CONV, "word": "xyzzy"})
    out = run_conv_app(stack, "fail")
    assert len(out["calls"]) == 1
    assert out["rc"] == PAM["PAM_CONV_ERR"]
    assert stack.record()["verb"] == "CONVFAIL"


def test_allowed_after_convfail_is_still_conv_error(stack):
    stack.service("malformed", conf={"frames": [HELLO, ["CONV", "prompt_echo_off", "pw"], ALLOWED],
                                     "replies": 1})
    assert run_conv_app(stack, "fail")["rc"] == PAM["PAM_CONV_ERR"]


def test_conv_error_sticks_when_the_helper_converses_again_after_convfail(stack):
    # The helper may still try to show an error message after CONVFAIL (PROTOCOL.md).
    stack.service("malformed", conf={"frames": [HELLO, ["CONV", "prompt_echo_off", "pw"],
                                                ["CONV", "error", "sorry"], ALLOWED],
                                     "replies": 2})
    out = run_conv_app(stack, "fail")
    assert out["rc"] == PAM["PAM_CONV_ERR"]
    assert [len(c) for c in out["calls"]] == [1, 1]


def test_setuid_caller_credentials_umask_and_limits_do_not_reach_the_helper(stack):
    # A caller that runs su keeps its real uid: the helper must not inherit it (it could signal or
    # ptrace the helper), nor its groups, umask, core limit or a starved descriptor limit.
    stack.service("reports_credentials")
    out = run_conv_app(stack, "setuid_caller")
    assert out["rc"] == PAM["PAM_SUCCESS"], out
    rec = stack.record()
    assert rec["resuid"] == [0, 0, 0] and rec["resgid"] == [0, 0, 0] and rec["groups"] == []
    assert rec["umask"] == 0o077
    soft = {name: lim[0] for name, lim in rec["limits"].items()}
    assert soft == {"RLIMIT_CORE": 0, "RLIMIT_NOFILE": 1024, "RLIMIT_FSIZE": 64 << 20}, rec
    assert all(hard == -1 or hard >= s for s, hard in rec["limits"].values()), rec   # -1: unlimited


def test_host_that_ignores_sigchld_still_gets_the_exit_status_and_its_disposition_back(stack):
    stack.service(conf={"outcome": "allowed"})
    out = run_conv_app(stack, "ignore_sigchld")
    assert out["rc"] == PAM["PAM_SUCCESS"]
    assert out["sigchld_ignored"]


@pytest.mark.parametrize("helper", ["well_behaved", "segfaults", "hangs", "extra_after_result",
                                    "malformed", "vanishes_after_conv"])
def test_host_keeps_no_child_or_zombie_after_authenticate(stack, helper):
    stack.service(helper, conf={"conv": PROMPT_CONV, "word": "xyzzy",
                                "frames": [HELLO, ["RESULT", "allowed"]]})
    out = run_conv_app(stack)
    assert out["children"] is False
    assert (out["rc"] == PAM["PAM_SUCCESS"]) == (helper == "well_behaved")


# ---------------------------------------------------------------- RESULT outcomes

@pytest.mark.parametrize("outcome,code", [
    ("allowed", "PAM_SUCCESS"),
    ("denied", "PAM_AUTH_ERR"),
    ("policy_denied", "PAM_AUTH_ERR"),
    ("timeout", "PAM_AUTH_ERR"),
    ("unknown_user", "PAM_USER_UNKNOWN"),
    ("unavailable", "PAM_AUTHINFO_UNAVAIL"),
    ("config_error", "PAM_SERVICE_ERR"),
    ("conv_error", "PAM_CONV_ERR"),
])
def test_each_outcome_maps_to_its_pam_code(stack, outcome, code):
    stack.service(conf={"outcome": outcome})
    assert_code(stack.run(), code)


def test_ignore_unknown_user_makes_the_module_ignored(stack):
    permit_after = "auth required pam_permit.so\n"
    stack.service(conf={"outcome": "unknown_user"},
                  text=stack.line("well_behaved", "ignore_unknown_user debug") + permit_after)
    run = stack.run()
    assert_code(run, "PAM_SUCCESS")   # a module that returned PAM_IGNORE does not count
    assert run.log_has("authenticate returns " + _strerror(PAM["PAM_IGNORE"]))
    assert stack.record()["start"]["flags"] == "3", "START tells the helper debug (1) + ignore_unknown_user (2)"

    stack.service(conf={"outcome": "unknown_user"}, text=stack.line("well_behaved") + permit_after)
    assert_code(stack.run(), "PAM_USER_UNKNOWN")


def test_ignore_unknown_user_does_not_soften_other_refusals(stack):
    stack.service(conf={"outcome": "denied"},
                  text=stack.line("well_behaved", "ignore_unknown_user") + "auth required pam_permit.so\n")
    assert_code(stack.run(), "PAM_AUTH_ERR")


def test_allowed_for_another_user_is_auth_error(stack):
    stack.service("other_user", conf={"claim_user": "root"})
    run = stack.run(user="alice")
    assert_code(run, "PAM_AUTH_ERR")
    assert run.log_has("helper claimed success for a user other than PAM_USER")


def test_allowed_must_match_pam_user_byte_for_byte(stack):
    stack.service("other_user", conf={"claim_user": "Alice"})
    assert_code(stack.run(user="alice"), "PAM_AUTH_ERR")
    stack.service("other_user", conf={"claim_user": ""})
    assert_code(stack.run(user="alice"), "PAM_AUTH_ERR")


def test_user_names_with_any_bytes_but_nul_reach_the_helper_unchanged_and_match(stack):
    stack.service(conf={"outcome": "allowed"})
    run = stack.run(user="a-b.c d%e=\t\\x")
    assert_code(run, "PAM_SUCCESS")
    assert stack.record()["start"]["user"] == "a-b.c d%e=\t\\x"


# ---------------------------------------------------------------- acct_mgmt

def test_acct_mgmt_succeeds_after_allowed_on_the_same_handle(stack):
    stack.service(conf={"outcome": "allowed"},
                  text=stack.line("well_behaved") + stack.line("well_behaved", kind="account"))
    run = stack.run(ops=("authenticate", "acct_mgmt"))
    assert "account management done." in run.output


@pytest.mark.parametrize("outcome", ["policy_denied", "denied"])
def test_acct_mgmt_is_perm_denied_after_a_refusal(stack, outcome):
    # optional + pam_permit lets pam_authenticate pass so acct_mgmt runs on the same handle
    stack.service(conf={"outcome": outcome},
                  text=stack.line("well_behaved", control="optional") + "auth required pam_permit.so\n"
                  + stack.line("well_behaved", kind="account"))
    run = stack.run(ops=("authenticate", "acct_mgmt"))
    assert run.output[-2:] == [pam_message("PAM_SUCCESS"), pam_message("PAM_PERM_DENIED")]
    assert run.returncode != 0


def test_acct_mgmt_is_ignored_when_the_module_did_not_authenticate(stack):
    stack.service(text="auth required pam_permit.so\n"
                  + stack.line("well_behaved", "debug", kind="account")
                  + "account required pam_permit.so\n")
    run = stack.run(ops=("authenticate", "acct_mgmt"))
    assert "account management done." in run.output
    assert run.log_has("this module did not authenticate this handle: ignored")
    assert not stack.record_path.exists()


def test_acct_mgmt_refuses_a_name_nss_does_not_know_when_it_did_not_authenticate(stack):
    # sshd may hold an entry (a provisional one) that NSS no longer answers by account time:
    # the account stack must not fall through to modules that would pass it.
    stack.service(text="auth required pam_permit.so\n"
                  + stack.line("well_behaved", kind="account")
                  + "account required pam_permit.so\n")
    run = stack.run(user="no-such-account-here", ops=("authenticate", "acct_mgmt"))
    assert run.returncode != 0 and "account management done." not in run.output
    assert run.log_has("account refused for no-such-account-here: no such account")


# ---------------------------------------------------------------- configuration errors

def test_unknown_module_argument_is_service_error(stack):
    stack.service(args="bogus=1")
    run = stack.run()
    assert_code(run, "PAM_SERVICE_ERR")
    assert run.log_has("unknown module argument: bogus=1")
    assert not stack.record_path.exists()


def test_relative_config_path_is_service_error(stack):
    stack.service(text="auth required %s helper=%s config=relative.conf\n" % (stack.module, FAKES / "well_behaved"))
    assert_code(stack.run(), "PAM_SERVICE_ERR")


def _copy_helper(name="well_behaved", parent=None):
    """A copy of a fake helper in a fresh directory below `parent` (default: the safe directory)."""
    d = Path(parent or safe_bin()) / ("helpers-" + uuid.uuid4().hex[:8])
    d.mkdir()
    os.chmod(d, 0o755)
    shutil.copy(FAKES / "fakeproto.py", d / "fakeproto.py")
    shutil.copy(FAKES / name, d / name)
    os.chmod(d / name, 0o755)
    return d / name


@pytest.mark.parametrize("problem,mode,uid,expected", [
    ("group-writable", 0o775, 0, "is group- or world-writable"),
    ("world-writable", 0o757, 0, "is group- or world-writable"),
    ("not-root-owned", 0o755, 65534, "is not owned by root"),
])
def test_unsafe_helper_file_is_service_error_and_never_runs(stack, problem, mode, uid, expected):
    helper = _copy_helper()
    os.chown(helper, uid, 0)
    os.chmod(helper, mode)
    stack.service(helper, conf={"outcome": "allowed"})
    run = stack.run()
    assert_code(run, "PAM_SERVICE_ERR")
    assert run.log_has("helper %s: %s %s" % (helper, helper, expected))
    assert not stack.record_path.exists()


def _unsafe_path(how):
    """A helper reached through an unsafe path; returns (path for helper=, the culprit, why)."""
    helper = _copy_helper()
    d = helper.parent
    if how == "group-writable-dir":
        os.chmod(d, 0o775)
        return helper, d, "is group- or world-writable"
    if how == "sticky-world-writable-dir":   # like /tmp: OpenSSH's safe_path makes no exception
        os.chmod(d, 0o1777)
        return helper, d, "is group- or world-writable"
    if how == "dir-not-root-owned":
        os.chown(d, 65534, 65534)
        return helper, d, "is not owned by root"
    if how == "symlinked-parent":
        link = Path(safe_bin()) / ("link-" + uuid.uuid4().hex[:8])
        link.symlink_to(d)
        return link / helper.name, link, "is a symbolic link"
    if how == "helper-is-symlink":
        link = d / "link"
        link.symlink_to(helper)
        return link, link, "is a symbolic link"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["group-writable-dir", "sticky-world-writable-dir",
                                 "dir-not-root-owned", "symlinked-parent", "helper-is-symlink"])
def test_unsafe_path_to_the_helper_is_service_error_naming_the_culprit(stack, how):
    # The walk from / (PROTOCOL.md "The helper process"): each file on the way is root's and not
    # writable by others, and no symbolic link is followed. Every one of these helper files is
    # itself root-owned 0755, so a check of the last component only would run it.
    path, culprit, why = _unsafe_path(how)
    stack.service(path, conf={"outcome": "allowed"})
    run = stack.run()
    assert_code(run, "PAM_SERVICE_ERR")
    assert run.log_has("helper %s: %s %s" % (path, culprit, why)), run.logs
    assert not stack.record_path.exists()


@pytest.mark.parametrize("path,expected", [
    ("relative/helper", "is not an absolute path"),
    ("/nonexistent/cognito-auth", "/nonexistent: No such file or directory"),
    ("/tmp", "/tmp is not a regular file"),
])
def test_helper_path_must_name_a_regular_file(stack, path, expected):
    stack.service(text="auth required %s helper=%s config=%s\n" % (stack.module, path, stack.conf_path))
    run = stack.run()
    assert_code(run, "PAM_SERVICE_ERR")
    assert run.log_has("helper %s: %s" % (path, expected))


def test_helper_that_cannot_be_executed_is_unavailable(stack):
    helper = _copy_helper()
    os.chmod(helper, 0o644)
    stack.service(helper, conf={"outcome": "allowed"})
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("helper exited with status 127")


# ---------------------------------------------------------------- misbehaving helpers

def test_helper_killed_by_a_signal_is_unavailable(stack):
    stack.service("segfaults")
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("helper killed by signal 11")


def test_hanging_helper_is_killed_after_hello_timeout_plus_five_seconds(stack):
    stack.service("hangs")
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert 5.5 < run.elapsed < 12, run.elapsed
    assert run.log_has("deadline passed waiting for the helper; helper killed")
    assert helper_processes("hangs") == []


def test_helper_exiting_without_result_is_unavailable(stack):
    stack.service("no_result")
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("helper closed fd 3 without RESULT")


def test_extra_data_after_result_is_unavailable(stack):
    stack.service("extra_after_result")
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("protocol violation: data after RESULT")


def test_nonzero_exit_after_allowed_is_unavailable(stack):
    stack.service("exit1_after_allowed")
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("helper exited with status 1")


def test_frame_over_64_kib_is_unavailable(stack):
    stack.service("long_frame", conf={"size": 65537})
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("protocol violation: frame length is not 1..65532")


def test_frame_of_exactly_64_kib_is_accepted(stack):
    stack.service("long_frame", conf={"size": 65536})
    assert_code(stack.run(), "PAM_SUCCESS")


def test_result_before_hello_is_a_protocol_error(stack):
    # Version 1 let a helper that could not load its config skip HELLO; now HELLO always comes
    # first, and a RESULT (even a well-formed "allowed") before it is a violation.
    stack.service("malformed", conf={"frames": [ALLOWED]})
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("protocol violation: first frame is not HELLO 2 <timeout>"), run.logs


def _raw(body, length=None):
    """A frame whose length and body the test chooses freely (PAM_USER is alice)."""
    data = body.encode()
    return {"raw": (length if length is not None else len(data)).to_bytes(4, "big").hex() + data.hex()}


NOT_RESULT = "not CONV, nor RESULT <known outcome> <user> <reason>"
BAD_HELLO = "first frame is not HELLO 2 <timeout>"
BAD_TIMEOUT = "HELLO timeout is not 1..3600"
BAD_CONV = "CONV not 1..4 style, text"


@pytest.mark.parametrize("frames,why", [
    # the framing itself
    ([HELLO, {"raw": "00000000"}], "frame length is not 1..65532"),
    ([HELLO, {"raw": "0000fffd" + "00" * 16}], "frame length is not 1..65532"),
    ([HELLO, {"raw": "ffffffff"}], "frame length is not 1..65532"),
    ([HELLO, _raw("RESULT\0allowed\0alice\0ok")], "frame does not end with a NUL"),
    ([HELLO, _raw("RESULT\0allowed\0alice\0ok\0junk")], "frame does not end with a NUL"),
    ([HELLO, _raw("RESULT\0allowed\0alice\0ok\0", length=40)], "frame cut short by EOF"),
    ([HELLO, {"raw": "0000"}], "frame cut short by EOF"),
    ([HELLO, ["RESULT", "a", "b", "c", "d", "e", "f", "g", "h", "i"]], "too many fields"),
    # a NUL inside a field is a field boundary: the RESULT then has the wrong number of fields
    ([HELLO, ["RESULT", "allowed", "{user}\0x", "ok"]], NOT_RESULT),
    ([HELLO, ["RESULT", "allowed\0", "{user}", "ok"]], NOT_RESULT),
    # RESULT
    ([HELLO, ["result", "allowed", "{user}", "ok"]], NOT_RESULT),
    ([HELLO, ["RESULT", "allowed", "{user}"]], NOT_RESULT),
    ([HELLO, ["RESULT", "allowed", "{user}", "ok", "extra"]], NOT_RESULT),
    ([HELLO, ["RESULT", "Allowed", "{user}", "ok"]], NOT_RESULT),
    ([HELLO, ["RESULT", "allowed ", "{user}", "ok"]], NOT_RESULT),
    ([HELLO, ["OK"], ALLOWED], NOT_RESULT),
    ([HELLO, HELLO, ALLOWED], NOT_RESULT),
    ([HELLO, _raw("\0"), ALLOWED], NOT_RESULT),
    # HELLO
    ([["HELLO", "1", "30"], ALLOWED], BAD_HELLO),
    ([["HELLO", "2"], ALLOWED], BAD_HELLO),
    ([["HELLO", "2", "30", "x"], ALLOWED], BAD_HELLO),
    ([["CONV", "info", "hi"], ALLOWED], BAD_HELLO),
    ([_raw("\0"), ALLOWED], BAD_HELLO),
    ([["HELLO", "2", "0"], ALLOWED], BAD_TIMEOUT),
    ([["HELLO", "2", "3601"], ALLOWED], BAD_TIMEOUT),
    ([["HELLO", "2", "-5"], ALLOWED], BAD_TIMEOUT),
    ([["HELLO", "2", "+5"], ALLOWED], BAD_TIMEOUT),
    ([["HELLO", "2", " 5"], ALLOWED], BAD_TIMEOUT),
    ([["HELLO", "2", "5 "], ALLOWED], BAD_TIMEOUT),
    ([["HELLO", "2", ""], ALLOWED], BAD_TIMEOUT),
    ([["HELLO", "2", "99999999999999999999"], ALLOWED], BAD_TIMEOUT),
    # CONV
    ([HELLO, ["CONV"], ALLOWED], BAD_CONV),
    ([HELLO, ["CONV", "info"], ALLOWED], BAD_CONV),
    ([HELLO, ["CONV", "info", "a", "error"], ALLOWED], BAD_CONV),
    ([HELLO, ["CONV", "shout", "hi"], ALLOWED], BAD_CONV),
    ([HELLO, ["CONV"] + ["info", "x"] * 5, ALLOWED], "too many fields"),
], ids=lambda v: None if isinstance(v, list) else v)
def test_malformed_frame_is_unavailable(stack, frames, why):
    stack.service("malformed", conf={"frames": frames})
    run = stack.run()
    assert_code(run, "PAM_AUTHINFO_UNAVAIL")
    assert run.log_has("protocol violation: " + why), run.logs


def test_well_formed_frames_from_the_malformed_helper_do_authenticate(stack):
    # The control for the test above: the same helper with correct frames succeeds, with any
    # bytes but NUL in a field (newline, space, %, non-ASCII) taken as they are.
    stack.service("malformed", conf={"frames": [HELLO, ["RESULT", "allowed", "{user}",
                                                        "a b\n%00\u00e9\r"]]})
    assert_code(stack.run(), "PAM_SUCCESS")


def test_no_helper_process_or_zombie_is_left_after_any_failure(stack):
    for helper in ("segfaults", "no_result", "extra_after_result", "exit1_after_allowed"):
        stack.service(helper)
        stack.run()
        assert helper_processes(helper) == []



# ---------------------------------------------------------------- abuse (issue 14)

def _raw_bytes(data):
    return {"raw": len(data).to_bytes(4, "big").hex() + data.hex()}


# Hostile helpers, each given a 3 s HELLO: the module's deadline is then 8 s, and no case may take
# longer than that (plus start-up), succeed, or leave the helper behind.
ABUSE = {
    "10 MiB without a frame end": ("floods", {"mode": "no_frame_end"}, "PAM_AUTHINFO_UNAVAIL",
                                   "frame does not end with a NUL"),
    "10 MiB without framing": ("floods", {"mode": "no_framing"}, "PAM_AUTHINFO_UNAVAIL",
                               "frame length is not 1..65532"),
    # The deadline passes while the module waits for a frame (AUTHINFO_UNAVAIL) or just as a
    # conversation call returns (AUTH_ERR, as for a person answering too late): which one is timing.
    "endless conversation": ("floods", {"mode": "chatter"},
                             [("PAM_AUTHINFO_UNAVAIL", "deadline passed"),
                              ("PAM_AUTH_ERR", "no answer before the sign-in deadline")], None),
    "invalid UTF-8 in the verb": ("malformed", {"frames": [["HELLO", "2", "3"], _raw_bytes(b"RES\xffULT\0allowed\0alice\0ok\0")]},
                                  "PAM_AUTHINFO_UNAVAIL", NOT_RESULT),
    "invalid UTF-8 in the outcome": ("malformed", {"frames": [["HELLO", "2", "3"], _raw_bytes(b"RESULT\0allow\xc3\0alice\0ok\0")]},
                                     "PAM_AUTHINFO_UNAVAIL", NOT_RESULT),
    "invalid UTF-8 as the user": ("malformed", {"frames": [["HELLO", "2", "3"], _raw_bytes(b"RESULT\0allowed\0al\xffice\0ok\0")]},
                                  "PAM_AUTH_ERR", None),
    "overlong UTF-8 of the user": ("malformed", {"frames": [["HELLO", "2", "3"], _raw_bytes(b"RESULT\0allowed\0\xc1\xa1lice\0ok\0")]},
                                   "PAM_AUTH_ERR", None),
    "invalid UTF-8 in HELLO": ("malformed", {"frames": [_raw_bytes(b"HELLO\0\xff2\0003\0"), ALLOWED]},
                               "PAM_AUTHINFO_UNAVAIL", BAD_HELLO),
    "RESULT for another user": ("other_user", {"claim_user": "root"}, "PAM_AUTH_ERR", None),
    "RESULT for the user with a suffix": ("other_user", {"claim_user": "alice "}, "PAM_AUTH_ERR", None),
    "RESULT twice, the same": ("malformed", {"frames": [["HELLO", "2", "3"], ALLOWED, ALLOWED]},
                               "PAM_AUTHINFO_UNAVAIL", "data after RESULT"),
    "RESULT denied then allowed": ("malformed", {"frames": [["HELLO", "2", "3"], ["RESULT", "denied", "{user}", "x"], ALLOWED]},
                                   "PAM_AUTHINFO_UNAVAIL", "data after RESULT"),
    "closes in a frame header": ("malformed", {"frames": [["HELLO", "2", "3"], {"raw": "000000"}]},
                                 "PAM_AUTHINFO_UNAVAIL", "frame cut short by EOF"),
    "closes mid-RESULT": ("malformed", {"frames": [["HELLO", "2", "3"], {"raw": _raw_bytes(b"RESULT\0allowed\0alice\0ok\0")["raw"][:30]}]},
                          "PAM_AUTHINFO_UNAVAIL", "frame cut short by EOF"),
    "closes mid-HELLO": ("malformed", {"frames": [{"raw": _raw_bytes(b"HELLO\0002\0003\0")["raw"][:14]}]},
                         "PAM_AUTHINFO_UNAVAIL", "frame cut short by EOF"),
}


@pytest.mark.parametrize("case", list(ABUSE), ids=list(ABUSE))
def test_hostile_helper_is_never_a_success_never_hangs_and_is_not_left(stack, case):
    helper, conf, code, why = ABUSE[case]
    stack.service(helper, conf=conf)
    run = stack.run()
    if isinstance(code, list):                          # either of two refusals, each with its log line
        assert any(pam_message(c) in run.output and run.log_has(w) for c, w in code), (run.output, run.logs)
    else:
        assert_code(run, code)
    if why:
        assert run.log_has(why), run.logs
    assert run.elapsed < 3 + 5 + 3, run.elapsed         # HELLO's 3 s + the module's 5 s + start-up
    assert helper_processes(helper) == []
    print(f"{case}: {code} in {run.elapsed:.2f} s")

# ---------------------------------------------------------------- memory

@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
@pytest.mark.parametrize("helper,conf,code", [
    ("well_behaved", {"conv": PROMPT_CONV + [["prompt_echo_off", "again: "]], "word": "xyzzy"},
     "PAM_SUCCESS"),
    ("other_user", {}, "PAM_AUTH_ERR"),
    ("malformed", {"frames": [HELLO, ["RESULT", "allowed", "{user}"]]}, "PAM_AUTHINFO_UNAVAIL"),
    ("hangs", {}, "PAM_AUTHINFO_UNAVAIL"),
], ids=["allowed-after-conversation", "other-user", "malformed", "killed-at-deadline"])
def test_valgrind_finds_no_leak_or_invalid_access_in_the_module(stack, helper, conf, code):
    stack.service(helper, conf=conf)
    log = stack.tmp / "valgrind.log"
    run = stack.run(prefix=("valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                            "--error-exitcode=99", "--log-file=%s" % log),
                    env={"PAM_WRAPPER_DISABLE_DEEPBIND": "1"},  # valgrind cannot do RTLD_DEEPBIND
                    input="xyzzy\nsecond answer\n")
    assert run.returncode != 99
    assert_code(run, code)
    text = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in text, text
    assert "pam_cognito" not in text, text
