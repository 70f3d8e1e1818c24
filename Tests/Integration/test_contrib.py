"""The files an admin copies from contrib/ agree with each other and with the tools that read them."""
import os
import pathlib
import re
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
    for promise in ["repeats", "same PAM handle", "does not evaluate the group policy again", "PAM_IGNORE", "publickey"]:
        assert promise in comments, promise
    active = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert active == ["auth required pam_cognito.so"]
