"""Issue 15 acceptance: accounts that appear on first sign-in, through the real glibc NSS.

Debian's sshd runs in a private mount namespace (unshare -m) where a test nsswitch.conf
(`passwd: files cognito`, `group: files cognito`) is bind-mounted over /etc/nsswitch.conf, and
LD_LIBRARY_PATH lets glibc's dlopen find a copy of pam/libnss_cognito.so.2 built with this test's
store and config paths (`make -C pam nss-copy`). Nothing machine-wide changes except the home
directories of the test's own never-seen people, which the fixture removes. sshd resolves the
never-seen name through NSS before authentication (the provisional entry), the helper writes it on
an admitted sign-in, and `id`, `getent` run inside the same namespace read it back through NSS.
"""
import concurrent.futures
import os
import shutil
import stat
import subprocess
import tempfile

import pytest

from harness import ROOT, answer_prompt
from sshd_harness import Sshd, client_address, finish, output_lines, read_prompt

PREFIX = f"nss{os.getpid() % 100000}"
LO, HI = 200000, 299999
CLI = os.path.join(ROOT, ".build", "debug", "cognito-auth")


def person(tag):
    return f"{PREFIX}{tag}"


def creds(name):
    return (f"{name}@example.com", f"{name.capitalize()}-pw-1")


@pytest.fixture(scope="module")
def people(emulator):
    names = {"first": person("a"), "refused": person("r"), "corrupt": person("c"), "again": person("g"),
             "keyless": person("k"), "keyed": person("y"), "raced": person("u"), "elsewhere": person("e")}
    names["crowd"] = [person(f"p{i}") for i in range(10)]
    for key, n in names.items():
        for name in (n if isinstance(n, list) else [n]):
            emulator.add_user(*creds(name), groups=["other"] if key == "refused" else ["linux-admins"])
    yield names
    for n in names.values():
        for name in (n if isinstance(n, list) else [n]):
            home = f"/home/{name}"
            if os.path.isdir(home) and LO <= os.stat(home).st_uid <= HI:
                shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def nss_sshd(workdir, emulator, redirect_uris, syslog, people):
    lib = tempfile.mkdtemp(prefix="nsslib-", dir=workdir)
    os.chmod(lib, 0o755)
    nsswitch = os.path.join(lib, "nsswitch.conf")
    with open("/etc/nsswitch.conf") as f:
        lines = [l for l in f.read().splitlines() if not l.startswith(("passwd:", "group:"))]
    with open(nsswitch, "w") as f:
        f.write("passwd: files cognito\ngroup: files cognito\n" + "\n".join(lines) + "\n")
    os.chmod(nsswitch, 0o644)
    # A copy of /etc/passwd too, so a test can add a host account inside the namespace only.
    passwd = os.path.join(lib, "passwd")
    shutil.copyfile("/etc/passwd", passwd)
    os.chmod(passwd, 0o644)
    wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            'mount --bind "$0" /etc/nsswitch.conf && mount --bind "$1" /etc/passwd && shift && exec "$@"',
            nsswitch, passwd, "env", f"LD_LIBRARY_PATH={lib}"]
    # publickey too: it runs no PAM auth, so only pam_cognito's acct_mgmt can refuse a provisional entry.
    s = Sshd(workdir, emulator, redirect_uris, wrap=wrap, pubkey=True,
             sshd_extra=f"SetEnv LD_LIBRARY_PATH={lib}\nAuthenticationMethods publickey keyboard-interactive",
             extra_config=f"provision = on_first_login\nprovision_uid_range = {LO}-{HI}\n"
                          "group_map = linux-admins:users, nobody-has-this:sudo\n"
                          f"provision_nss_module = {lib}/libnss_cognito.so.2\n")
    # make hands NSS_DEFINES to the shell: the quotes of the C strings are escaped for it.
    defines = f'-DCOGNITO_STORE_DIR=\\"{s.dir}/state/accounts\\" -DCOGNITO_CONFIG_DIR=\\"{s.dir}\\"'
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "pam"), "nss-copy", f"OUT={lib}/libnss_cognito.so.2",
                    f"NSS_DEFINES={defines}"], check=True, timeout=120)
    s.lib = lib
    s.passwd = passwd
    s.store = os.path.join(s.dir, "state", "accounts")
    try:
        yield s.start()
    finally:
        s.stop()


def in_namespace(sshd, *cmd, user=None):
    """A command in sshd's mount namespace (its nsswitch.conf), as root or as `user` (uid)."""
    drop = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user is not None else []
    return subprocess.run(["nsenter", "-t", str(sshd.proc.pid), "-m", "--", "env", f"LD_LIBRARY_PATH={sshd.lib}",
                           *drop, *cmd], capture_output=True, text=True, timeout=30)


def getent(sshd, db, *keys, user=65534):
    return in_namespace(sshd, "getent", db, *keys, user=user)


def ssh_sign_in(sshd, name, command="id -un; id -Gn; id -u; stat -c '%u %g' \"$HOME\""):
    child = sshd.ssh(name, command=("echo ===; " + command,), source=client_address())
    try:
        shown, url = read_prompt(child)
        answer_prompt(child, url, creds(name), paste=True)
        out, status = finish(child)
        lines = output_lines(out)
        return (lines[lines.index("===") + 1:] if "===" in lines else lines), status
    finally:
        if child.isalive():
            child.terminate(force=True)


def store_lines(sshd, name):
    try:
        with open(os.path.join(sshd.store, name)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def cli(sshd, *args):
    return subprocess.run([CLI, *args, "--config", sshd.config], capture_output=True, text=True, timeout=60)


def test_no_phantom_users_before_sign_in(nss_sshd, people):
    name = people["first"]
    assert getent(nss_sshd, "passwd", name).returncode == 2
    assert getent(nss_sshd, "passwd", name, user=None).returncode == 2, "a root non-sshd caller sees nothing either"
    listed = getent(nss_sshd, "passwd").stdout
    assert name not in listed


def test_first_sign_in_provisions_the_account(nss_sshd, people):
    name = people["first"]
    lines, status = ssh_sign_in(nss_sshd, name)
    assert status == 0, (lines, nss_sshd.log_text()[-3000:])
    assert lines[0] == name, lines
    assert set(lines[1].split()) >= {"cognito", "users"}, lines
    uid = int(lines[2])
    assert LO <= uid <= HI
    st = os.stat(f"/home/{name}")
    assert (st.st_uid, stat.S_ISDIR(st.st_mode)) == (uid, True)
    assert lines[3].split()[0] == str(uid)
    entry = getent(nss_sshd, "passwd", name)
    assert entry.returncode == 0 and entry.stdout.startswith(f"{name}:*:{uid}:"), entry
    assert entry.stdout.strip().endswith(f":/home/{name}:/bin/bash")
    assert name in getent(nss_sshd, "group", "cognito").stdout
    st = os.stat(os.path.join(nss_sshd.store, "passwd"))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644)

    again, status = ssh_sign_in(nss_sshd, name)
    assert status == 0 and int(again[2]) == uid, again
    assert len([l for l in store_lines(nss_sshd, "passwd") if l.startswith(name + ":")]) == 1


def test_refused_sign_in_writes_nothing(nss_sshd, people):
    name = people["refused"]
    before = {f: store_lines(nss_sshd, f) for f in ("passwd", "group")}
    lines, status = ssh_sign_in(nss_sshd, name, command="id -un")
    assert status != 0
    assert {f: store_lines(nss_sshd, f) for f in ("passwd", "group")} == before
    assert not os.path.exists(f"/home/{name}")
    assert getent(nss_sshd, "passwd", name).returncode == 2
    assert name not in getent(nss_sshd, "group").stdout


def test_parallel_first_sign_ins_get_distinct_uids(nss_sshd, people):
    crowd = people["crowd"]
    with concurrent.futures.ThreadPoolExecutor(len(crowd)) as pool:
        results = list(pool.map(lambda n: ssh_sign_in(nss_sshd, n, command="id -un; id -u"), crowd))
    for name, (lines, status) in zip(crowd, results):
        assert status == 0 and lines[0] == name, (name, lines)
    uids = [int(lines[1]) for lines, _ in results]
    assert len(set(uids)) == 10 and all(LO <= u <= HI for u in uids)
    listed = getent(nss_sshd, "passwd").stdout.splitlines()
    for name, uid in zip(crowd, uids):
        assert f"{name}:*:{uid}:" in "\n".join(listed)
    assert getent(nss_sshd, "passwd").returncode == 0


def test_remove_then_sign_in_again_provisions_the_same_uid(nss_sshd, people):
    name = people["again"]
    lines, status = ssh_sign_in(nss_sshd, name, command="id -u")
    assert status == 0
    uid = int(lines[0])
    out = cli(nss_sshd, "users", "show", name)
    assert out.returncode == 0 and f"{name}:*:{uid}:" in out.stdout, out
    assert name in cli(nss_sshd, "users", "list").stdout
    out = cli(nss_sshd, "users", "remove", name)
    assert out.returncode == 0, out
    assert getent(nss_sshd, "passwd", name).returncode == 2
    assert name not in getent(nss_sshd, "group", "cognito").stdout
    lines, status = ssh_sign_in(nss_sshd, name, command="id -u")
    assert status == 0 and int(lines[0]) == uid


def test_lock_refuses_the_next_sign_in(nss_sshd, people):
    name = people["crowd"][0]
    assert cli(nss_sshd, "users", "lock", name).returncode == 0
    lines, status = ssh_sign_in(nss_sshd, name, command="id -un")
    assert status != 0
    assert "locked" in cli(nss_sshd, "users", "list").stdout


@pytest.mark.parametrize("damage", ["group_writable", "not_root", "corrupt"])
def test_unsafe_or_corrupt_store_answers_nothing_and_fails_closed(nss_sshd, people, damage):
    passwd = os.path.join(nss_sshd.store, "passwd")
    known = people["first"]
    with open(passwd) as f:
        original = f.read()
    try:
        if damage == "group_writable":
            os.chmod(passwd, 0o664)
        elif damage == "not_root":
            os.chown(passwd, 65534, 0)
        else:
            with open(passwd, "a") as f:
                f.write("broken line\n")
        assert getent(nss_sshd, "passwd", known).returncode == 2, "NSS must answer nothing from it"
        assert known not in getent(nss_sshd, "passwd").stdout
        doctor = cli(nss_sshd, "doctor")
        assert doctor.returncode != 0 and "accounts/passwd" in doctor.stdout + doctor.stderr, doctor.stdout
        lines, status = ssh_sign_in(nss_sshd, people["corrupt"], command="id -un") if damage == "corrupt" \
            else ssh_sign_in(nss_sshd, known, command="id -un")
        assert status != 0, lines
        assert not os.path.exists(f"/home/{people['corrupt']}")
    finally:
        with open(passwd, "w") as f:
            f.write(original)
        os.chown(passwd, 0, 0)
        os.chmod(passwd, 0o644)
    assert getent(nss_sshd, "passwd", known).returncode == 0


def test_module_under_valgrind_has_no_errors_or_leaks(nss_sshd, people):
    """getent (enumeration, by name, by uid) and id (initgroups) through the module under memcheck."""
    name = people["first"]
    uid = getent(nss_sshd, "passwd", name).stdout.split(":")[2]
    for cmd in (["getent", "passwd"], ["getent", "group"], ["getent", "passwd", name], ["getent", "passwd", uid],
                ["getent", "group", "cognito"], ["id", name]):
        p = in_namespace(nss_sshd, "valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
                         "--error-exitcode=99", *cmd)
        assert p.returncode == 0, (cmd, p.stderr)
        assert name in p.stdout, (cmd, p.stdout)


def account_refusals(syslog, name, tries=50):
    """pam_cognito's acct_mgmt refusals in the log (rsyslogd writes asynchronously: wait for it)."""
    import time
    for _ in range(tries):
        found = [l for l in syslog.lines() if "pam_cognito(" in l and f"account refused for {name}: only a provisional entry" in l]
        if found:
            return found
        time.sleep(0.1)
    return []


def test_publickey_login_of_a_never_provisioned_name_is_refused(nss_sshd, people, syslog):
    """sshd resolves the name before any method (the provisional entry) and publickey runs no PAM
    auth: a session would start under a uid never written to the store. acct_mgmt refuses it."""
    name = people["keyless"]
    key = nss_sshd.authorize_key(name)
    before = {f: store_lines(nss_sshd, f) for f in ("passwd", "group")}
    r = nss_sshd.ssh_with_key(name, key, "echo ===; id -u")
    assert r.returncode != 0 and "===" not in r.stdout, (r.stdout, r.stderr, nss_sshd.log_text()[-2000:])
    assert {f: store_lines(nss_sshd, f) for f in ("passwd", "group")} == before, "nothing stored"
    assert not os.path.exists(f"/home/{name}")
    assert getent(nss_sshd, "passwd", name).returncode == 2
    assert len(account_refusals(syslog, name)) == 1, syslog.lines()[-20:]


def test_publickey_login_of_a_provisioned_person_still_gets_in(nss_sshd, people):
    name = people["keyed"]
    lines, status = ssh_sign_in(nss_sshd, name, command="id -u")
    assert status == 0, lines
    uid = lines[0]
    r = nss_sshd.ssh_with_key(name, nss_sshd.authorize_key(name), "echo ===; id -un; id -u")
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = output_lines(r.stdout)
    assert out[out.index("===") + 1:] == [name, uid]


def fnv1a(name):
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def planned_uid(sshd, name):
    """The uid sshd is told for a never-seen name, computed here a third way (C and Swift are the others)."""
    taken = set()
    for lines in (open(sshd.passwd).read().splitlines(), store_lines(sshd, "passwd")):
        for line in lines:
            f = line.split(":")
            if len(f) >= 3 and f[2].isdigit():
                taken.add(int(f[2]))
    size, start = HI - LO + 1, fnv1a(name) % (HI - LO + 1)
    return next(LO + (start + i) % size for i in range(size) if LO + (start + i) % size not in taken)


def test_uid_taken_by_useradd_during_the_sign_in_is_refused(nss_sshd, people):
    """sshd was told uid U before authentication; useradd takes U meanwhile (here: a line added to the
    namespace's /etc/passwd). The helper would now probe past U and write U+1 while sshd runs the
    session as U, the other account's uid: it must refuse. Once that account is gone, the same
    person gets U, the uid C, Swift and this test all compute."""
    name = people["raced"]
    told = planned_uid(nss_sshd, name)
    with open(nss_sshd.passwd) as f:
        original = f.read()
    child = nss_sshd.ssh(name, command=("echo ===; id -u",), source=client_address())
    try:
        shown, url = read_prompt(child)      # sshd has looked the name up: it holds `told`
        with open(nss_sshd.passwd, "a") as f:
            f.write(f"{PREFIX}intruder:x:{told}:{told}::/nonexistent:/usr/sbin/nologin\n")
        answer_prompt(child, url, creds(name), paste=True)
        out, status = finish(child)
    finally:
        if child.isalive():
            child.terminate(force=True)
        with open(nss_sshd.passwd, "w") as f:
            f.write(original)
    assert status != 0, out
    assert not [l for l in store_lines(nss_sshd, "passwd") if l.startswith(name + ":")]
    assert not os.path.exists(f"/home/{name}")
    lines, status = ssh_sign_in(nss_sshd, name, command="id -u")
    assert status == 0 and int(lines[0]) == told, (lines, told)


def test_doctor_fails_an_unbounded_login_grace_time_with_provisioning(nss_sshd):
    import json
    def grace(value):
        r = cli(nss_sshd, "doctor", "--json", "--sshd-config", nss_sshd.sshd_config, "--sshd-option", f"LoginGraceTime={value}")
        doc = json.loads(r.stdout)
        (f,) = [f for f in doc["findings"] if f["check"] == "sshd LoginGraceTime"]
        return f
    # login_timeout is 60 here: LoginGraceTime must be 1..120.
    for bad in ("0", "121", "3600"):
        f = grace(bad)
        assert f["status"] == "fail" and "provision = on_first_login" in f["message"], (bad, f)
    assert grace("90")["status"] == "pass"


def test_state_dir_other_than_the_modules_is_a_config_error(nss_sshd, people, syslog):
    """The module answers sshd from its compiled-in store; a helper writing elsewhere would leave
    sshd holding entries nobody writes. Refused as a config error naming state_dir and the fix."""
    with open(nss_sshd.config) as f:
        original = f.read()
    elsewhere = os.path.join(nss_sshd.dir, "elsewhere")
    changed = original.replace(f"state_dir = {nss_sshd.dir}/state", f"state_dir = {elsewhere}")
    assert changed != original
    try:
        with open(nss_sshd.config, "w") as f:
            f.write(changed)
        r = cli(nss_sshd, "users", "list")
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert "state_dir" in r.stderr + r.stdout and f"set state_dir = {nss_sshd.dir}/state" in r.stderr + r.stdout
        name = people["elsewhere"]
        child = nss_sshd.ssh(name, command=("echo ===; id -un",))
        out, status = finish(child)       # the helper refuses its config before any prompt
        assert status != 0 and "===" not in out and "Redirect URL" not in out, out
        assert not os.path.exists(f"/home/{name}") and not os.path.exists(os.path.join(elsewhere, "accounts"))
    finally:
        with open(nss_sshd.config, "w") as f:
            f.write(original)
    assert cli(nss_sshd, "users", "list").returncode == 0


# ---------------------------------------------------------------- the module called directly

NSS_SUCCESS, NSS_NOTFOUND, NSS_TRYAGAIN = 1, 0, -2


def module(sshd):
    import ctypes
    lib = ctypes.CDLL(os.path.join(sshd.lib, "libnss_cognito.so.2"))
    for fn in ("_nss_cognito_getpwnam_r", "_nss_cognito_getgrnam_r"):
        getattr(lib, fn).argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                     ctypes.POINTER(ctypes.c_int)]
    for fn in ("_nss_cognito_getpwent_r", "_nss_cognito_getgrent_r"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
    return lib


def passwd_struct():
    import ctypes
    class Passwd(ctypes.Structure):
        _fields_ = [("pw_name", ctypes.c_char_p), ("pw_passwd", ctypes.c_char_p), ("pw_uid", ctypes.c_uint),
                    ("pw_gid", ctypes.c_uint), ("pw_gecos", ctypes.c_char_p), ("pw_dir", ctypes.c_char_p),
                    ("pw_shell", ctypes.c_char_p)]
    return Passwd


def group_struct():
    import ctypes
    class Group(ctypes.Structure):
        _fields_ = [("gr_name", ctypes.c_char_p), ("gr_passwd", ctypes.c_char_p), ("gr_gid", ctypes.c_uint),
                    ("gr_mem", ctypes.POINTER(ctypes.c_char_p))]
    return Group


def test_too_small_buffer_is_erange_then_a_big_one_succeeds(nss_sshd, people):
    """_r semantics: NSS_STATUS_TRYAGAIN with errno ERANGE, so glibc retries with a bigger buffer."""
    import ctypes, errno
    lib, name = module(nss_sshd), people["first"]
    assert any(l.startswith(name + ":") for l in store_lines(nss_sshd, "passwd")), "provisioned by an earlier test"
    for fn, struct, key, check in (("_nss_cognito_getpwnam_r", passwd_struct(), name, lambda e: e.pw_name.decode()),
                                   ("_nss_cognito_getgrnam_r", group_struct(), "cognito", lambda e: e.gr_name.decode())):
        entry, err = struct(), ctypes.c_int(0)
        for size in (1, 8, 16):
            buf = ctypes.create_string_buffer(size)
            rc = getattr(lib, fn)(key.encode(), ctypes.byref(entry), buf, size, ctypes.byref(err))
            assert (rc, err.value) == (NSS_TRYAGAIN, errno.ERANGE), (fn, size, rc, err.value)
        buf = ctypes.create_string_buffer(4096)
        rc = getattr(lib, fn)(key.encode(), ctypes.byref(entry), buf, 4096, ctypes.byref(err))
        assert rc == NSS_SUCCESS and check(entry) == key, (fn, rc)
    group = group_struct()()
    buf = ctypes.create_string_buffer(4096)
    assert lib._nss_cognito_getgrnam_r(b"cognito", ctypes.byref(group), buf, 4096, ctypes.byref(err)) == NSS_SUCCESS
    members = []
    while group.gr_mem[len(members)]:
        members.append(group.gr_mem[len(members)].decode())
    assert name in members


def test_many_threads_look_up_and_enumerate_at_once(nss_sshd, people):
    """Lookups share nothing; enumeration shares one snapshot per database under a mutex. 16 threads
    (ctypes drops the GIL around each call) each look every stored name up and walk both databases."""
    import ctypes, threading
    lib = module(nss_sshd)
    stored = {l.split(":")[0]: int(l.split(":")[2]) for l in store_lines(nss_sshd, "passwd")}
    groups = {l.split(":")[0] for l in store_lines(nss_sshd, "group")}
    assert len(stored) >= 2
    errors, seen_pw, seen_gr = [], [], []
    barrier = threading.Barrier(16)

    def work(i):
        try:
            barrier.wait()
            entry, err, buf = passwd_struct()(), ctypes.c_int(0), ctypes.create_string_buffer(4096)
            for _ in range(20):
                for name, uid in stored.items():
                    rc = lib._nss_cognito_getpwnam_r(name.encode(), ctypes.byref(entry), buf, 4096, ctypes.byref(err))
                    if rc != NSS_SUCCESS or entry.pw_name.decode() != name or entry.pw_uid != uid:
                        errors.append((name, rc, entry.pw_uid))
            # getpwent/getgrent: one shared cursor per database; every entry handed out is whole and
            # stored, and across all threads each one comes out exactly once per pass.
            if i % 2:
                while lib._nss_cognito_getpwent_r(ctypes.byref(entry), buf, 4096, ctypes.byref(err)) == NSS_SUCCESS:
                    seen_pw.append((entry.pw_name.decode(), entry.pw_uid))
            else:
                group = group_struct()()
                while lib._nss_cognito_getgrent_r(ctypes.byref(group), buf, 4096, ctypes.byref(err)) == NSS_SUCCESS:
                    seen_gr.append(group.gr_name.decode())
        except Exception as e:      # pragma: no cover - reported below
            errors.append(repr(e))

    lib._nss_cognito_setpwent(0)
    lib._nss_cognito_setgrent(0)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lib._nss_cognito_endpwent()
    lib._nss_cognito_endgrent()
    assert not errors, errors[:5]
    assert sorted(seen_pw) == sorted(stored.items())
    assert sorted(seen_gr) == sorted(groups)


def test_module_under_helgrind_has_no_races(nss_sshd, workdir):
    """8 threads in one process (tests/Integration/nss_threads.c): lookups and both enumerations at
    once. helgrind reports any access to the shared cursors outside their mutex, collision or not."""
    stored = [l.split(":")[0] for l in store_lines(nss_sshd, "passwd")]
    assert len(stored) >= 2
    driver = os.path.join(tempfile.mkdtemp(dir=workdir), "nss_threads")
    subprocess.run(["cc", "-O1", "-g", "-pthread", "-o", driver, os.path.join(os.path.dirname(__file__), "nss_threads.c"),
                    "-ldl"], check=True, timeout=120)
    p = subprocess.run(["valgrind", "-q", "--tool=helgrind", "--error-exitcode=99", driver,
                        os.path.join(nss_sshd.lib, "libnss_cognito.so.2"), *stored],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == ["bad", "0", "entries", str(len(stored))], p.stdout


def with_module_path(sshd, path):
    """The fixture's config with provision_nss_module = path; returns a context-free restore function."""
    with open(sshd.config) as f:
        original = f.read()
    line = f"provision_nss_module = {sshd.lib}/libnss_cognito.so.2"
    assert line in original
    with open(sshd.config, "w") as f:
        f.write(original.replace(line, f"provision_nss_module = {path}"))
    def restore():
        with open(sshd.config, "w") as f:
            f.write(original)
    return restore


def test_nss_module_is_found_through_a_symbolic_link_but_not_in_an_unsafe_place(nss_sshd):
    """/lib is a link to usr/lib on merged-/usr systems (the package's default path goes through
    it); the resolved file must still be root's and not group/world-writable, like every file read."""
    link = os.path.join(nss_sshd.dir, "lib-link")
    if not os.path.lexists(link):
        os.symlink(nss_sshd.lib, link)
    restore = with_module_path(nss_sshd, f"{link}/libnss_cognito.so.2")
    try:
        r = cli(nss_sshd, "users", "list")
        assert r.returncode == 0, (r.stdout, r.stderr)
    finally:
        restore()
    unsafe = os.path.join(nss_sshd.dir, "unsafe-libnss_cognito.so.2")
    shutil.copyfile(os.path.join(nss_sshd.lib, "libnss_cognito.so.2"), unsafe)
    os.chmod(unsafe, 0o666)
    restore = with_module_path(nss_sshd, unsafe)
    try:
        r = cli(nss_sshd, "users", "list")
        assert r.returncode == 2 and "provision_nss_module" in r.stdout + r.stderr, (r.stdout, r.stderr)
    finally:
        restore()
