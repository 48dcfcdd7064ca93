#!/usr/bin/env python3
"""Write the generated command documentation (crates/ferrokv/src/commands/meta/*.json) from a
running redis-server 7.0, so COMMAND INFO / DOCS of ferrokv answer byte for byte like Redis.

One JSON file per command or subcommand (`get.json`, `config-get.json`) holds what Redis's
COMMAND DOCS says of it (summary, since, group, complexity, doc_flags, deprecated_since,
replaced_by, history, arguments) and the documentation part of its COMMAND INFO entry (tips,
key_specs). build.rs turns the folder into static tables. What dispatch needs (name, arity,
flags, ACL categories, key positions, lock scope, handler) is declared in Rust beside the
handler, never here; a unit test checks that both sides name the same commands and that the
documented key specs agree with the key positions that drive locking.

Usage:
  REDIS_PORT=7400 scripts/command_meta_from_redis.py              # regenerate every file
  REDIS_PORT=7400 scripts/command_meta_from_redis.py hset config|get   # add / rewrite these
  REDIS_PORT=7400 scripts/command_meta_from_redis.py --check       # differences only, no writes

Names are full names: `config` writes the container's file only, `config|get` one
subcommand. Files of commands the server does not know (ferrokv-only commands, or commands of
later Redis versions) are left as they are and named on stderr. Never edit the JSON by hand:
the next regeneration overwrites it.
"""
import json
import os
import socket
import sys

META_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "ferrokv",
                        "src", "commands", "meta")


class Conn:
    """A minimal RESP3 client (no dependency beyond Python's standard library)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def read(self):
        line = self.file.readline()
        kind, rest = chr(line[0]), line[1:-2].decode()
        if kind == "+":
            return rest
        if kind == "-":
            raise RuntimeError(rest)
        if kind == ":":
            return int(rest)
        if kind == "$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2].decode()
        if kind == "_":
            return None
        if kind in "*~>":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        if kind == "%":
            return dict((self.read(), self.read()) for _ in range(int(rest)))
        raise RuntimeError("unexpected reply %r" % line)


# Key order of a file, as COMMAND DOCS lists the fields (then COMMAND INFO's).
DOC_FIELDS = ["summary", "since", "group", "complexity", "doc_flags", "deprecated_since",
              "replaced_by", "history", "arguments"]


def meta_of(conn, full_name):
    """The documentation of one command, or None when the server does not know it."""
    info = conn.cmd("COMMAND", "INFO", full_name)[0]
    if info is None:
        return None
    docs = conn.cmd("COMMAND", "DOCS", full_name).get(full_name, {})
    meta = {"name": full_name}
    for field in DOC_FIELDS:
        if field in docs:
            meta[field] = docs[field]
    if info[7]:
        meta["tips"] = info[7]
    if info[8]:
        meta["key_specs"] = info[8]
    return meta


def file_name(full_name):
    return full_name.replace("|", "-") + ".json"


def existing_names():
    names = []
    for f in sorted(os.listdir(META_DIR)):
        if f.endswith(".json"):
            with open(os.path.join(META_DIR, f)) as fh:
                names.append(json.load(fh)["name"])
    return names


def render(meta):
    return json.dumps(meta, indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = "--check" in argv
    names = [a.lower() for a in argv if not a.startswith("--")] or existing_names()
    conn = Conn(int(os.environ.get("REDIS_PORT", "6379")))
    conn.cmd("HELLO", "3")
    differences = 0
    for name in names:
        meta = meta_of(conn, name)
        if meta is None:
            print(f"unknown to the server, left as it is: {name}", file=sys.stderr)
            continue
        path = os.path.join(META_DIR, file_name(name))
        text = render(meta)
        old = open(path).read() if os.path.exists(path) else None
        if old == text:
            continue
        differences += 1
        if check:
            print(f"differs: {name}")
        else:
            with open(path, "w") as fh:
                fh.write(text)
            print(f"wrote {os.path.relpath(path)}", file=sys.stderr)
    return 1 if check and differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
