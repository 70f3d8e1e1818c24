"""The files an admin copies from contrib/ agree with each other and with the tools that read them."""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import yaml

from harness import HELPER, ROOT

CONTRIB = os.path.join(ROOT, "contrib")


def config_values():
    values = {}
    with open(os.path.join(CONTRIB, "config", "cognito-auth.conf")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")) and "=" in line:
                key, value = (x.strip() for x in line.split("=", 1))
                values.setdefault(key, value)
    return values


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else
    loader.construct_mapping(node) if isinstance(node, yaml.MappingNode) else loader.construct_scalar(node)))


def test_cloudformation_template_passes_cfn_lint():
    path = os.path.join(CONTRIB, "cognito", "cognito-auth-pool.yaml")
    r = subprocess.run(["cfn-lint", path], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_template_matches_the_sample_config():
    with open(os.path.join(CONTRIB, "cognito", "cognito-auth-pool.yaml")) as f:
        template = yaml.load(f, Loader=CfnLoader)
    resources = template["Resources"]
    groups = {r["Properties"]["GroupName"] for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"}
    client = resources["AppClient"]["Properties"]
    ports = template["Parameters"]["CallbackPorts"]["Default"].split(",")
    values = config_values()
    # Every callback the config names is registered by the template (Cognito compares byte for byte).
    config_uris = [u.strip() for u in values["redirect_uris"].split(",")]
    assert config_uris == [f"http://localhost:{p}/callback" for p in ports]
    # The code flow with the scopes the helper asks for.
    assert client["AllowedOAuthFlows"] == ["code"] and set(client["AllowedOAuthScopes"]) >= {"openid", "email"}
    # Every group the sample policy names exists in the pool.
    named = set()
    with open(os.path.join(CONTRIB, "config", "cognito-auth.conf")) as f:
        for line in f:
            m = re.match(r"\s*(allowed_groups|denied_groups)\s*=\s*(.*)", line)
            if m:
                named |= {g.strip() for g in m.group(2).split(",")}
    assert named and named <= groups, (named, groups)


def test_sample_config_parses_with_the_helper(workdir):
    """The sample config is valid as shipped (only its secret file is missing on a test machine)."""
    # Below the root-owned 0755 work directory: under /tmp (pytest's tmp_path) the helper refuses it.
    tmp_path = pathlib.Path(tempfile.mkdtemp(dir=workdir))
    conf = tmp_path / "cognito-auth.conf"
    text = open(os.path.join(CONTRIB, "config", "cognito-auth.conf")).read()
    # Point discovery at a closed loopback port: tests reach no address off this machine.
    conf.write_text("issuer = http://127.0.0.1:9/us-east-1_AbCdEf123\n"
                    + text.replace("/etc/cognito-auth/client-secret", str(tmp_path / "client-secret")))
    os.chmod(conf, 0o600)
    secret = tmp_path / "client-secret"
    secret.write_text("s\n")
    os.chmod(secret, 0o600)
    r = subprocess.run([HELPER, "doctor", "--config", str(conf), "--json"], capture_output=True, text=True, timeout=120)
    # Discovery fails (exit 3: nothing listens there); the config itself must not (exit 2).
    assert r.returncode == 3, r.stdout + r.stderr


def test_sshd_snippet_says_what_account_management_does():
    # The module's acct_mgmt only repeats this handle's auth decision (test_pam_module.py's
    # test_acct_mgmt_* tests prove it); the snippet must not promise a second policy check.
    with open(os.path.join(CONTRIB, "pam.d", "sshd-cognito")) as f:
        text = f.read()
    comments = " ".join(l.lstrip("# ").strip() for l in text.splitlines() if l.startswith("#"))
    assert "group policy also answer" not in comments
    for promise in ["repeats", "same PAM handle", "does not evaluate the group policy again", "PAM_IGNORE", "publickey",
                    "provisional", "PAM_PERM_DENIED", "required"]:
        assert promise in comments, promise
    active = [l for l in text.splitlines() if l and not l.startswith("#")]
    # The account line is what refuses a publickey login holding only a provisional NSS entry.
    assert active == ["auth required pam_cognito.so", "account required pam_cognito.so"]


# ---------------------------------------------------------------- Debian packaging (contrib/debian)

DEBIAN = os.path.join(CONTRIB, "debian")


def active_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def test_pam_auth_update_profile_is_off_by_default_and_never_falls_through():
    fields, key = {}, None
    with open(os.path.join(DEBIAN, "cognito-auth.pam-config")) as f:
        for line in f:
            if line[:1].isspace() and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, value = (x.strip() for x in line.split(":", 1))
                fields[key] = [value] if value else []
    assert fields["Default"] == ["no"] and fields["Auth-Type"] == ["Primary"]
    assert int(fields["Priority"][0]) > 256          # asked before pam_unix (Priority 256)
    (auth,) = fields["Auth"]
    m = re.fullmatch(r"\[([^]]*)\]\s+(.*)", auth)
    assert m, auth
    control, module = m.group(1), m.group(2).split()
    assert module == ["pam_cognito.so"]
    actions = dict(a.split("=") for a in control.split())
    # Success ends the primary block (pam-auth-update turns `end` into a jump past pam_deny);
    # everything else, unavailable included, ends the login: nothing reaches `pam_unix.so nullok`.
    assert actions == {"success": "end", "default": "die"}, actions
    # Account: pam_cognito's acct_mgmt (PAM_IGNORE for handles it did not authenticate, except a
    # provisional-only NSS entry, which it refuses) after the primary block, for every service.
    assert fields["Account-Type"] == ["Additional"] and fields["Account"] == ["required\tpam_cognito.so"], fields
    assert not {"Session", "Password"} & set(fields)


def test_maintainer_scripts_touch_pam_only_through_pam_auth_update():
    for name in sorted(os.listdir(DEBIAN)):
        if not name.endswith((".postinst", ".prerm", ".postrm")):
            continue
        path = os.path.join(DEBIAN, name)
        assert os.access(path, os.X_OK), name
        assert subprocess.run(["sh", "-n", path]).returncode == 0, name
        code = "\n".join(active_lines(path))
        assert "--force" not in code and "/etc/pam.d" not in code, name
        for line in code.splitlines():
            if "pam-auth-update" in line:
                assert line.split() in (["pam-auth-update", "--package"],
                                        ["pam-auth-update", "--package", "--remove", "cognito-auth"]), line


def test_changelog_is_at_the_version_the_programs_print():
    with open(os.path.join(ROOT, "Sources", "CognitoAuthRuntime", "Version.swift")) as f:
        version = re.search(r'static let string = "([^"]+)"', f.read()).group(1)
    with open(os.path.join(DEBIAN, "changelog")) as f:
        assert f.readline().startswith(f"cognito-auth ({version}) "), "add a contrib/debian/changelog entry"


def test_sudo_and_login_snippets():
    for name in ("sudo-cognito", "login-cognito"):
        assert active_lines(os.path.join(CONTRIB, "pam.d", name)) == ["auth required pam_cognito.so"], name


def test_relay_unit_is_hardened_and_runs_as_its_own_user():
    settings = {}
    for line in active_lines(os.path.join(DEBIAN, "cognito-auth-relay.service")):
        if "=" in line:
            k, v = line.split("=", 1)
            settings.setdefault(k, []).append(v)
    assert settings["User"] == ["cognito-auth-relay"] and settings["Group"] == ["cognito-auth-relay"]
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("PrivateDevices", "yes"), ("CapabilityBoundingSet", ""),
                       ("RestrictSUIDSGID", "yes"), ("MemoryDenyWriteExecute", "yes")]:
        assert settings.get(key) == [value], key
    assert settings["ExecStart"] == ["/usr/sbin/cognito-auth-relay --config /etc/cognito-auth/relay.conf"]
    assert settings["ConditionPathExists"] == ["/etc/cognito-auth/relay.conf"]
    r = subprocess.run(["systemd-analyze", "verify", os.path.join(DEBIAN, "cognito-auth-relay.service")],
                       capture_output=True, text=True) if shutil.which("systemd-analyze") else None
    if r is not None:
        # The binary and its man page are not installed here; any other complaint is a mistake in the unit.
        problems = [l for l in r.stderr.splitlines() if l.strip()
                    and "Command /usr/sbin/cognito-auth-relay is not executable" not in l
                    and "man cognito-auth-relay(8)" not in l]
        assert not problems, r.stderr


def test_relay_example_config_names_the_design_keys_and_sets_none():
    path = os.path.join(DEBIAN, "relay.conf.example")
    assert active_lines(path) == []      # every setting commented out: no relay on example values
    keys = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"#\s*([a-z_]+)\s*=", line)
            if m:
                keys.add(m.group(1))
    assert keys == {"listen", "public_url", "region", "user_pool_id", "client_id", "issuer", "discovery_url",
                    "ca_file", "host_secret_file", "store", "code_lifetime", "max_code_attempts"}, keys


def test_template_registers_the_relay_callback_only_when_given():
    with open(os.path.join(CONTRIB, "cognito", "cognito-auth-pool.yaml")) as f:
        template = yaml.load(f, Loader=CfnLoader)
    param = template["Parameters"]["RelayCallbackURL"]
    assert param["Default"] == "" and re.fullmatch(param["AllowedPattern"], "")
    assert re.fullmatch(param["AllowedPattern"], "https://login.example.com/callback")
    assert not re.fullmatch(param["AllowedPattern"], "http://login.example.com/callback")
    callbacks = template["Resources"]["AppClient"]["Properties"]["CallbackURLs"]
    assert ["HasRelay", "RelayCallbackURL", "AWS::NoValue"] in callbacks
    assert "HasRelay" in template["Conditions"]
