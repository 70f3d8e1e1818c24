"""The helper's side of pam/PROTOCOL.md (version 2), just enough for fake helpers.

A frame is a 4-byte big-endian body length, then the body: NUL-terminated fields, the verb
first. A fake helper is started by pam_cognito.so with fd 3 as its socket and an empty
environment, so a test steers it through the `config=` path that the module passes in START:
that file is JSON written by the test.
"""
import json
import os
import socket
import struct

START_FIELDS = ["v", "user", "service", "rhost", "ruser", "tty", "config", "flags"]


def frame(*fields):
    """The frame of these fields (str or bytes), as the real helper would write it."""
    body = b"".join((f.encode() if isinstance(f, str) else f) + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


class Channel:
    def __init__(self):
        self.sock = socket.socket(fileno=3)
        verb, fields = self.read()
        assert verb == "START" and len(fields) == len(START_FIELDS), (verb, fields)
        self.start = {k: v.decode() for k, v in zip(START_FIELDS, fields)}
        with open(self.start["config"]) as f:
            self.conf = json.load(f)
        self.user = self.start["user"]

    def _exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("module closed the socket")
            data += chunk
        return data

    def read(self):
        """(verb, [field bytes]) of the module's next frame."""
        (length,) = struct.unpack(">I", self._exactly(4))
        body = self._exactly(length)
        assert body.endswith(b"\0"), body
        verb, *fields = body[:-1].split(b"\0")
        return verb.decode(), fields

    def raw(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def send(self, *fields):
        self.raw(frame(*fields))

    def hello(self, timeout=30):
        self.send("HELLO", "2", str(timeout))

    def result(self, outcome, user=None, reason="test"):
        self.send("RESULT", outcome, self.user if user is None else user, reason)

    def record(self, **facts):
        """Lets the test see what reached the helper."""
        path = self.conf.get("record")
        if path:
            with open(path, "w") as f:
                json.dump(facts, f)

    def close(self):
        self.sock.close()


def main(body):
    ch = Channel()
    body(ch)
    ch.close()
    os._exit(0)
