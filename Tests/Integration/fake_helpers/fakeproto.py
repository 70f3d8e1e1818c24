"""The helper's side of pam/PROTOCOL.md, just enough for fake helpers.

A fake helper is started by pam_cognito.so with fd 3 as its socket and an
empty environment, so a test steers it through the `config=` path that the
module passes in START: that file is JSON written by the test.
"""
import json
import os
import socket

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~")


def enc(value):
    data = value.encode() if isinstance(value, str) else value
    return "".join(chr(b) if b in UNRESERVED else "%%%02X" % b for b in data)


def dec(value):
    out, i = bytearray(), 0
    while i < len(value):
        if value[i] == "%":
            out.append(int(value[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(value[i]))
            i += 1
    return bytes(out)


def parse(line):
    verb, *tokens = line.rstrip("\n").split(" ")
    return verb, [(k, dec(v)) for k, v in (t.split("=", 1) for t in tokens)]


class Channel:
    def __init__(self):
        self.sock = socket.socket(fileno=3)
        self.rfile = self.sock.makefile("r", encoding="ascii", newline="\n")
        verb, tokens = self.read()
        assert verb == "START", verb
        self.start = {k: v.decode() for k, v in tokens}
        with open(self.start["config"]) as f:
            self.conf = json.load(f)
        self.user = self.start["user"]

    def read(self):
        line = self.rfile.readline()
        if not line:
            raise EOFError("module closed the socket")
        return parse(line)

    def raw(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def send(self, verb, *pairs):
        self.raw(verb + "".join(" %s=%s" % (k, enc(v)) for k, v in pairs) + "\n")

    def hello(self, timeout=30):
        self.send("HELLO", ("v", "1"), ("timeout", str(timeout)))

    def result(self, outcome, user=None, reason="test"):
        self.send("RESULT", ("outcome", outcome), ("user", self.user if user is None else user),
                  ("reason", reason))

    def record(self, **facts):
        """Lets the test see what reached the helper."""
        path = self.conf.get("record")
        if path:
            with open(path, "w") as f:
                json.dump(facts, f)

    def close(self):
        self.rfile.close()
        self.sock.close()


def main(body):
    ch = Channel()
    body(ch)
    ch.close()
    os._exit(0)
