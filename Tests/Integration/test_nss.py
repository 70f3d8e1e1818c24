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
    names = {"first": person("a"), "refused": person("r"), "corrupt": person("c"), "again": person("g")}
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
    wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            'mount --bind "$0" /etc/nsswitch.conf && exec "$@"', nsswitch, "env", f"LD_LIBRARY_PATH={lib}"]
    s = Sshd(workdir, emulator, redirect_uris, sshd_extra=f"SetEnv LD_LIBRARY_PATH={lib}", wrap=wrap,
             extra_config=f"provision = on_first_login\nprovision_uid_range = {LO}-{HI}\n"
                          "group_map = linux-admins:users, nobody-has-this:sudo\n")
    # make hands NSS_DEFINES to the shell: the quotes of the C strings are escaped for it.
    defines = f'-DCOGNITO_STORE_DIR=\\"{s.dir}/state/accounts\\" -DCOGNITO_CONFIG_DIR=\\"{s.dir}\\"'
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "pam"), "nss-copy", f"OUT={lib}/libnss_cognito.so.2",
                    f"NSS_DEFINES={defines}"], check=True, timeout=120)
    s.lib = lib
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
