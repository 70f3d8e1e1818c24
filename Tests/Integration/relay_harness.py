"""cognito-auth-relay in the integration tests: a real PostgreSQL server, relay instances, the host's
half of the relay protocol played by a scripted HTTP client, and the person's browser.

    pg = Postgres(); pg.start()                        # initdb + pg_ctl as user postgres, loopback port
    relay = Relay(workdir, emulator, public_url, store=pg.url)   # or store="memory"
    relay.start()
    host = RelayHost(relay)                            # POST /device_authorization, poll /token
    grant = host.start(host="web1", user="alice", rhost="203.0.113.9")
    Person(relay).sign_in(grant["verification_uri_complete"], *ALICE, emulator)
    code = host.poll_until_code(grant)
    claims = host.exchange(emulator, code)             # verifier + client secret never left this side

The emulator must have `<public_url>/callback` registered (`Emulator([relay_callback])`); pick
ports with `free_port()` before starting the emulator, then start the relays."""
import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.parse

import requests

from harness import CLIENT_ID, CLIENT_SECRET, ROOT, Browser, free_port, write_private

RELAY = os.environ.get("COGNITO_AUTH_RELAY", os.path.join(ROOT, ".build", "debug", "cognito-auth-relay"))
PG_BIN = next((os.path.join("/usr/lib/postgresql", v, "bin") for v in sorted(os.listdir("/usr/lib/postgresql"), reverse=True)
               if os.path.exists(os.path.join("/usr/lib/postgresql", v, "bin", "initdb"))), None) \
    if os.path.isdir("/usr/lib/postgresql") else None
HOST_SECRET = "itest-host-secret-" + "0123456789abcdef" * 2
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class CertificateAuthority:
    """A throw-away certificate authority (openssl) and a server certificate it signed for IP
    address 127.0.0.1, in `directory`."""

    def __init__(self, directory, name="pg"):
        self.dir = os.path.join(directory, f"ca-{name}")
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.cert = os.path.join(self.dir, "ca.pem")
        self.server_cert = os.path.join(self.dir, "server.pem")
        self.server_key = os.path.join(self.dir, "server.key")
        key = os.path.join(self.dir, "ca.key")
        csr = os.path.join(self.dir, "server.csr")
        ext = os.path.join(self.dir, "server.ext")
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
            "-out", self.cert, "-days", "2", "-subj", f"/CN=cognito-auth test CA {name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.server_key,
            "-out", csr, "-subj", "/CN=127.0.0.1")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        run("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", key, "-CAcreateserial", "-out", self.server_cert,
            "-days", "2", "-extfile", ext)
        os.chmod(self.cert, 0o644)


class Postgres:
    """A throw-away PostgreSQL server: initdb + pg_ctl as the unprivileged user `postgres` in a
    temporary directory, on a loopback port, password (SCRAM) authentication for TCP. With `ca`
    (a CertificateAuthority) it runs with ssl = on and that CA's server certificate, and accepts TCP clients
    only over TLS (pg_hba `hostssl`)."""

    def __init__(self, user="relay", password=None, database="relay", ca=None):
        self.dir = tempfile.mkdtemp(prefix="cognito-relay-pg-")
        self.port = free_port()
        self.user, self.database = user, database
        self.password = password or secrets.token_urlsafe(18)
        self.url = f"postgresql://{user}:{self.password}@127.0.0.1:{self.port}/{database}"
        self.ca = ca

    def _as_postgres(self, *cmd, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, text=True, **kw)

    def start(self):
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        data = os.path.join(self.dir, "data")
        self._as_postgres(f"{PG_BIN}/initdb", "-D", data, "-U", self.user, f"--pwfile={pwfile}",
                          "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8")
        os.unlink(pwfile)
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir}"
        if self.ca:
            for src, name in ((self.ca.server_cert, "server.crt"), (self.ca.server_key, "server.key")):
                dst = os.path.join(data, name)
                shutil.copy(src, dst)
                shutil.chown(dst, "postgres", "postgres")
                os.chmod(dst, 0o600)
            hba = os.path.join(data, "pg_hba.conf")
            with open(hba) as f:
                lines = f.read().splitlines()
            with open(hba, "w") as f:
                f.write("\n".join("hostssl" + l[4:] if l.startswith("host ") else l for l in lines) + "\n")
            options += " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        self._as_postgres(f"{PG_BIN}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                          options, "start")
        self._as_postgres(f"{PG_BIN}/createdb", "-h", self.dir, "-p", str(self.port), "-U", self.user, self.database)
        return self

    def psql(self, sql):
        return self._as_postgres(f"{PG_BIN}/psql", "-h", self.dir, "-p", str(self.port), "-U", self.user, "-d",
                                 self.database, "-At", "-c", sql).stdout

    def dump(self):
        """pg_dump of the relay's database: schema and every row."""
        return self._as_postgres(f"{PG_BIN}/pg_dump", "-h", self.dir, "-p", str(self.port), "-U", self.user,
                                 self.database).stdout

    def stop(self):
        try:
            self._as_postgres(f"{PG_BIN}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Relay:
    """`cognito-auth-relay --config <dir>/relay.conf` as a process on 127.0.0.1:`port`. Its config
    and host-secret file are root-owned 0600 in `directory` (a trusted path, as on a server); its
    log (stderr: every refusal with its reason) is `log()`."""

    def __init__(self, directory, emulator, public_url=None, port=None, store="memory", code_lifetime=600,
                 max_code_attempts=5, host_secrets=(HOST_SECRET,), name="relay", extra=""):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.public_url = public_url or self.base
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.config = os.path.join(self.dir, "relay.conf")
        self.secret_file = os.path.join(self.dir, "host-secrets")
        write_private(self.secret_file, "# one accepted host secret a line\n" + "\n".join(host_secrets) + "\n")
        write_private(self.config, f"""# cognito-auth-relay test instance {name}
listen = 127.0.0.1:{self.port}
public_url = {self.public_url}
region = us-east-1
user_pool_id = us-east-1_Example
client_id = {CLIENT_ID}
issuer = {emulator.issuer}
host_secret_file = {self.secret_file}
store = {store}
code_lifetime = {code_lifetime}
max_code_attempts = {max_code_attempts}
{extra}""")
        self.logfile = os.path.join(self.dir, "relay.log")
        self.proc = None

    def start(self, timeout=20):
        self.proc = subprocess.Popen([RELAY, "--config", self.config], stdout=open(self.logfile, "ab"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited {self.proc.returncode}: {self.log()}")
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError("relay did not answer /healthz: " + self.log())

    def log(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class RelayHost:
    """The helper's half of `flow = relay`, scripted: it makes the PKCE verifier and the nonce,
    sends the relay only the challenge, polls `/token`, and exchanges the code at Cognito (the
    emulator) with the verifier and the client secret, which the relay never sees."""

    def __init__(self, relay, secret=HOST_SECRET):
        self.relay, self.secret = relay, secret
        self.verifier = b64url(secrets.token_bytes(32))
        self.nonce = b64url(secrets.token_bytes(16))

    @property
    def challenge(self):
        return b64url(hashlib.sha256(self.verifier.encode()).digest())

    def post(self, path, data, secret=None, relay=None, headers=None):
        h = {"Authorization": "Bearer " + (secret or self.secret)} if (secret or self.secret) else {}
        h.update(headers or {})
        return requests.post((relay or self.relay).base + path, data=data, headers=h, timeout=10)

    def start(self, host="web1.example.com", user="alice", rhost="203.0.113.9", relay=None):
        r = self.post("/device_authorization", {
            "code_challenge": self.challenge, "code_challenge_method": "S256", "nonce": self.nonce,
            "scope": "openid email", "host": host, "user": user, "rhost": rhost}, relay=relay)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def poll(self, grant, relay=None):
        r = self.post("/token", {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"]}, relay=relay)
        return r.status_code, r.json()

    def poll_until_code(self, grant, relay=None, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.poll(grant, relay=relay)
            if status == 200:
                return body
            assert body["error"] in ("authorization_pending", "slow_down"), body
            time.sleep(grant["interval"])
        raise AssertionError("no code from the relay in time")

    def exchange(self, emulator, answer):
        """The code for tokens at the emulator's token endpoint; returns the verified-looking ID token claims."""
        disco = requests.get(emulator.issuer + "/.well-known/openid-configuration", timeout=5).json()
        r = requests.post(disco["token_endpoint"], auth=(CLIENT_ID, CLIENT_SECRET), timeout=10, data={
            "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": answer["redirect_uri"],
            "code_verifier": self.verifier, "client_id": CLIENT_ID})
        assert r.status_code == 200, (r.status_code, r.text)
        tokens = r.json()
        claims = jwt_claims(tokens["id_token"])
        assert claims["nonce"] == self.nonce
        return claims, tokens


class Person:
    """The person at a phone's browser, played with `requests` (cookies kept in one session): the
    relay's code form, its confirmation page, the emulator's sign-in, back to the relay's callback."""

    def __init__(self, forwarded_for=None):
        self.s = requests.Session()
        if forwarded_for:
            self.s.headers["X-Forwarded-For"] = forwarded_for

    @staticmethod
    def csrf(page):
        m = re.search(r'name="csrf" value="([^"]+)"', page)
        assert m, page[:400]
        return html.unescape(m.group(1))

    def enter_code(self, url, code=None):
        """Opens `url` (the verification URI, maybe with ?code=) and submits the code form."""
        page = self.s.get(url, timeout=10)
        assert page.status_code == 200, page.text[:300]
        if code is None:
            code = re.search(r'name="code" value="([^"]*)"', page.text).group(1)
        base = url.split("?")[0]
        return self.s.post(base, data={"csrf": self.csrf(page.text), "code": code}, allow_redirects=False, timeout=10)

    def confirm(self, confirm_page, base, action="continue"):
        code = re.search(r'name="code" value="([^"]*)"', confirm_page.text).group(1)
        return self.s.post(base.rstrip("/") + "/d/confirm", data={"csrf": self.csrf(confirm_page.text), "code": code,
                           "action": action}, allow_redirects=False, timeout=10)

    def sign_in(self, verification_uri_complete, email, password):
        """The whole walk; returns the relay's final page (the callback's answer)."""
        confirm = self.enter_code(verification_uri_complete)
        assert confirm.status_code == 200, confirm.text[:300]
        base = verification_uri_complete.split("/d?")[0]
        redirect = self.confirm(confirm, base)
        assert redirect.status_code == 302, redirect.text[:300]
        callback = Browser().sign_in(redirect.headers["Location"], email, password)
        return self.s.get(callback, allow_redirects=False, timeout=10)
