"""cognito-auth-relay end to end: a real PostgreSQL shared by two relay instances, the emulator as
Cognito, headless Chromium on the person's pages, the host's half of the protocol scripted
(relay_harness.py). The PAM-stack and sshd `flow = relay` tests live with the helper's client."""
import os
import time

import pytest
import requests

from harness import ALICE, free_port, sample_pool, write_private
from relay_harness import HOST_SECRET, RELAY, Person, Postgres, CertificateAuthority, Relay, RelayHost


@pytest.fixture(scope="module")
def ports():
    return {"a": free_port(), "b": free_port(), "solo": free_port(), "short": free_port()}


@pytest.fixture(scope="module")
def emulator(ports):
    # Both shared-store instances sit behind one public_url (here: instance B's address, as a load
    # balancer would send the person there); the single instances have their own.
    with sample_pool([f"http://127.0.0.1:{ports[k]}/callback" for k in ("b", "solo", "short")]) as e:
        yield e


@pytest.fixture(scope="module")
def postgres():
    pg = Postgres().start()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def pair(workdir, emulator, postgres, ports):
    public = f"http://127.0.0.1:{ports['b']}"
    a = Relay(workdir, emulator, public_url=public, port=ports["a"], store=postgres.url, name="a")
    b = Relay(workdir, emulator, public_url=public, port=ports["b"], store=postgres.url, name="b")
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def solo(workdir, emulator, ports):
    r = Relay(workdir, emulator, port=ports["solo"], max_code_attempts=3, name="solo").start()
    yield r
    r.stop()


def test_two_instances_share_postgres(pair, emulator, postgres):
    a, b = pair
    host = RelayHost(a)
    grant = host.start(host="web1.example.com", user="alice", rhost="203.0.113.9")
    assert grant["verification_uri"] == b.public_url + "/d"
    assert grant["verification_uri_complete"] == f"{b.public_url}/d?code={grant['user_code']}"
    assert host.poll(grant) == (400, {"error": "authorization_pending"})

    final = Person().sign_in(grant["verification_uri_complete"], *ALICE)   # pages and callback on B
    assert final.status_code == 200 and "return to your terminal" in final.text

    answer = host.poll_until_code(grant, relay=a)                            # polled on A
    assert answer["redirect_uri"] == b.public_url + "/callback"
    time.sleep(0.6)
    assert host.poll(grant, relay=a) == (400, {"error": "expired_token"})   # exactly once, on either instance
    assert host.poll(grant, relay=b) == (400, {"error": "expired_token"})
    claims, tokens = host.exchange(emulator, answer)
    assert claims["email"] == ALICE[0]

    dump = postgres.dump()
    assert "CREATE TABLE public.relay_sign_ins" in dump
    for secret in (host.verifier, answer["code"], tokens["id_token"], tokens["access_token"], HOST_SECRET,
                   "itest-secret-value", grant["device_code"]):
        assert secret not in dump
    assert host.nonce not in dump   # the sign-in's row is gone once its code was handed out


def test_store_keeps_only_hashes_and_the_challenge(pair, postgres):
    a, _ = pair
    host = RelayHost(a)
    grant = host.start(user="carol")
    dump = postgres.dump()
    assert host.challenge in dump and host.verifier not in dump
    assert grant["device_code"] not in dump
    assert postgres.psql("SELECT status FROM relay_sign_ins WHERE username = 'carol'").strip() == "pending"


def test_chromium_walks_the_pages(solo, emulator, workdir):
    """Headless Chromium (Debian's chromium + chromedriver, through Selenium's WebDriver client):
    code form → confirm → the emulator's sign-in → "return to your terminal", a screenshot each."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    host = RelayHost(solo)
    grant = host.start(host="console7.example.com", user="alice", rhost="")
    shots = os.path.join(workdir, "screenshots")
    os.makedirs(shots, exist_ok=True)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=800,900",
                f"--user-data-dir={os.path.join(workdir, 'chromium-profile')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(grant["verification_uri"])
        driver.find_element(By.ID, "code").send_keys(grant["user_code"].lower())
        driver.save_screenshot(os.path.join(shots, "1-code-form.png"))
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        assert "Is this your sign-in?" in driver.title
        assert driver.find_element(By.ID, "host").text == "console7.example.com"
        assert driver.find_element(By.ID, "user").text == "alice"
        assert driver.find_element(By.ID, "rhost").text == "the host's own console"
        driver.save_screenshot(os.path.join(shots, "2-confirm.png"))
        driver.find_element(By.ID, "continue").click()

        # A click on a form that redirects need not wait for the next page: wait for the navigation.
        from selenium.webdriver.support.ui import WebDriverWait
        WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(emulator.base))
        assert driver.current_url.startswith(emulator.base)
        driver.find_element(By.NAME, "username").send_keys(ALICE[0])
        driver.find_element(By.NAME, "password").send_keys(ALICE[1])
        driver.save_screenshot(os.path.join(shots, "3-sign-in.png"))
        driver.find_element(By.NAME, "password").submit()

        WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(solo.public_url + "/callback"))
        assert driver.current_url.startswith(solo.public_url + "/callback")
        assert "Signed in — return to your terminal" in driver.find_element(By.TAG_NAME, "h1").text
        driver.save_screenshot(os.path.join(shots, "4-return-to-terminal.png"))
    finally:
        driver.quit()
    for name in ("1-code-form", "2-confirm", "3-sign-in", "4-return-to-terminal"):
        with open(os.path.join(shots, name + ".png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    answer = host.poll_until_code(grant)
    claims, _ = host.exchange(emulator, answer)
    assert claims["email"] == ALICE[0]


def test_wrong_codes_locked_out_per_address(solo):
    host = RelayHost(solo)
    grant = host.start()
    mallory = Person(forwarded_for="198.51.100.7")
    for code in ("BBBB-BBBB", "CCCC-CCCC"):
        assert mallory.enter_code(solo.base + "/d", code).status_code == 400
    assert mallory.enter_code(solo.base + "/d", "DDDD-DDDD").status_code == 429   # the 3rd: max_code_attempts = 3
    assert mallory.enter_code(solo.base + "/d", grant["user_code"]).status_code == 429   # even the right one
    # Another address is not affected: the lockout is per client address.
    assert Person(forwarded_for="198.51.100.8").enter_code(grant["verification_uri_complete"]).status_code == 200
    assert "locked out for 10 minutes" in solo.log()


def test_used_code_refused(solo, emulator):
    host = RelayHost(solo)
    grant = host.start()
    Person(forwarded_for="192.0.2.10").sign_in(grant["verification_uri_complete"], *ALICE)
    again = Person(forwarded_for="192.0.2.10").enter_code(grant["verification_uri_complete"])
    assert again.status_code == 400 and "not valid" in again.text
    assert "user code unknown, used or expired" in solo.log()


def test_expired_code_refused(workdir, emulator, ports):
    relay = Relay(workdir, emulator, port=ports["short"], code_lifetime=10, name="short").start()
    try:
        host = RelayHost(relay)
        grant = host.start()
        assert grant["expires_in"] == 10
        time.sleep(10.5)
        r = Person(forwarded_for="192.0.2.20").enter_code(grant["verification_uri_complete"])
        assert r.status_code == 400
        assert host.poll(grant) == (400, {"error": "expired_token"})
    finally:
        relay.stop()


def test_host_secret_required(solo):
    good = RelayHost(solo)
    grant = good.start()
    for secret in (None, "not-the-fleet-secret-not-the-fleet-secret"):
        bad = RelayHost(solo, secret=secret)
        bad.secret = secret
        r = bad.post("/device_authorization", {"code_challenge": bad.challenge, "code_challenge_method": "S256",
                                               "nonce": bad.nonce, "scope": "openid", "host": "h", "user": "u"})
        assert r.status_code == 401 and r.json() == {"error": "invalid_client"}
        r = bad.post("/token", {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                                "device_code": grant["device_code"]})
        assert r.status_code == 401 and r.json() == {"error": "invalid_client"}
    log = solo.log()
    assert "no bearer host secret" in log and "host secret not accepted" in log
    assert "not-the-fleet-secret" not in log and HOST_SECRET not in log


def test_callback_with_forged_or_missing_state_refused(solo):
    host = RelayHost(solo)
    grant = host.start()
    person = Person(forwarded_for="192.0.2.30")
    confirm = person.enter_code(grant["verification_uri_complete"])
    redirect = person.confirm(confirm, solo.base)
    assert redirect.status_code == 302
    state = dict(x.split("=", 1) for x in redirect.headers["Location"].split("?", 1)[1].split("&"))["state"]
    cb = solo.base + "/callback"
    assert requests.get(cb + "?code=abc", cookies=person.s.cookies, timeout=5).status_code == 400          # missing state
    assert requests.get(f"{cb}?code=abc&state={state}", timeout=5).status_code == 400                      # another browser
    assert requests.get(f"{cb}?code=abc&state=forged", cookies={"relay_state": "forged"}, timeout=5).status_code == 400
    assert host.poll(grant) == (400, {"error": "authorization_pending"})
    log = solo.log()
    assert "callback without state" in log and "callback state is not this browser's" in log
    assert "callback for an unknown" in log
    assert state not in log


def test_pages_are_hardened(solo):
    r = requests.get(solo.base + "/d?code=WDJB-MJHT", timeout=5)
    assert r.headers["Cache-Control"] == "no-store"
    csp = r.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; form-action 'self' http://127.0.0.1:") and "frame-ancestors 'none'" in csp
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Referrer-Policy"] == "no-referrer"
    assert "relay_csrf=" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert "<script" not in r.text and 'value="WDJB-MJHT"' in r.text
    # A form from elsewhere (no CSRF cookie) is refused without counting as a wrong code.
    assert requests.post(solo.base + "/d", data={"csrf": "x", "code": "WDJB-MJHT"}, timeout=5).status_code == 403
    # Headers and bodies are capped.
    assert requests.get(solo.base + "/d", headers={"X-Big": "a" * 20000}, timeout=5).status_code in (400, 431)
    big = requests.post(solo.base + "/token", data="a=" + "b" * 10000, timeout=5,
                        headers={"Authorization": "Bearer " + HOST_SECRET, "Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413


def test_relay_refuses_untrusted_files(workdir, emulator):
    relay = Relay(workdir, emulator, name="untrusted")
    os.chmod(relay.secret_file, 0o644)
    p = __import__("subprocess").run([RELAY, "--config", relay.config], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "must not be readable by group or others" in p.stderr
    write_private(relay.config, open(relay.config).read() + "client_secret_file = /x\n")
    p = __import__("subprocess").run([RELAY, "--config", relay.config], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "client_secret_file: unknown key" in p.stderr


def relay_keys():
    from harness import ROOT
    with open(os.path.join(ROOT, "Sources", "CognitoAuthCore", "Config", "RelayConfigParser.swift")) as f:
        src = f.read()
    import re
    block = re.search(r"static let keys: Set<String> = \[(.*?)\]", src, re.S).group(1)
    return sorted(re.findall(r'"([a-z_]+)"', block)), re


def test_man_page_readme_and_sample_document_every_relay_key():
    from harness import ROOT
    keys, re = relay_keys()
    assert len(keys) == 14, keys
    man = open(os.path.join(ROOT, "contrib", "man", "cognito-auth-relay.8")).read()
    # The section headed exactly "## The relay …" (not "### The relay package").
    readme = re.split(r"^## The relay\b", open(os.path.join(ROOT, "README.md")).read(), maxsplit=1, flags=re.M)[1].split("\n## ", 1)[0]
    sample = open(os.path.join(ROOT, "contrib", "relay", "relay.conf")).read()
    for k in keys:
        assert re.search(rf'^\.BI {k} " = "', man, re.M), k
        assert f"| `{k}` |" in readme, k
    for k in ("listen", "public_url", "region", "user_pool_id", "client_id", "host_secret_file", "store"):
        assert re.search(rf"^#? ?{k} = ", sample, re.M), k


def test_systemd_unit_is_hardened():
    from harness import ROOT
    unit = open(os.path.join(ROOT, "contrib", "relay", "cognito-auth-relay.service")).read()
    for line in ("User=cognito-relay", "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "CapabilityBoundingSet=\n", "ExecStart=/usr/sbin/cognito-auth-relay --config /etc/cognito-auth/relay.conf"):
        assert line in unit, line


# ---------------------------------------------------------------- TLS to PostgreSQL (postgres_tls)

@pytest.fixture(scope="module")
def tls_postgres(workdir):
    """A PostgreSQL with ssl = on (a test CA's certificate for 127.0.0.1) that takes TCP clients
    over TLS only."""
    ca = CertificateAuthority(workdir, name="pg")
    pg = Postgres(ca=ca).start()
    yield pg
    pg.stop()


def test_postgres_tls_require_verifies_the_server_against_postgres_ca_file(workdir, emulator, tls_postgres, ports):
    relay = Relay(workdir, emulator, port=ports["short"], store=tls_postgres.url, name="pg-tls",
                  extra=f"postgres_tls = require\npostgres_ca_file = {tls_postgres.ca.cert}\n")
    try:
        relay.start()     # the schema was created over TLS: the server takes no plain-text TCP client
        host = RelayHost(relay)
        grant = host.start()
        assert host.poll(grant) == (400, {"error": "authorization_pending"})
        assert tls_postgres.psql("SELECT count(*) FROM relay_sign_ins").strip() == "1"
        encrypted = tls_postgres.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                                      "WHERE a.client_addr IS NOT NULL AND s.ssl").strip()
        assert int(encrypted) >= 1
        assert "postgres_tls require" in relay.log()
    finally:
        relay.stop()


@pytest.mark.parametrize("server, ca", [("plain", True), ("tls", False)])
def test_postgres_tls_require_refuses_a_server_it_cannot_verify(workdir, emulator, postgres, tls_postgres, ports, server, ca):
    """`require` against a server without TLS, and against a TLS server whose certificate the
    relay does not trust (no postgres_ca_file: the system store): the relay does not start."""
    pg = postgres if server == "plain" else tls_postgres
    extra = "postgres_tls = require\n" + (f"postgres_ca_file = {tls_postgres.ca.cert}\n" if ca else "")
    relay = Relay(workdir, emulator, port=ports["short"], store=pg.url, name=f"pg-refused-{server}", extra=extra)
    try:
        with pytest.raises(RuntimeError) as refused:
            relay.start(timeout=40)
        assert "relay exited" in str(refused.value), refused.value
        log = relay.log()
        assert "no connection to the PostgreSQL store" in log, log
        assert any(w in log.lower() for w in ("sslunsupported", "certificate", "handshake")), log   # the pool's reason
        assert pg.password not in log
    finally:
        relay.stop()
