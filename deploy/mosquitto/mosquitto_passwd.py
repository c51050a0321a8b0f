#!/usr/bin/env python3
"""Add or replace a user in a mosquitto 2.0 password file, where ``mosquitto_passwd`` is not
installed (Debian ships it in the ``mosquitto`` package; a gateway host may not have it).

    python3 mosquitto_passwd.py /etc/mosquitto/passwd USER   # asks for the password twice
    printf '%s\\n' "$PASSWORD" | python3 mosquitto_passwd.py --stdin FILE USER

The line is what ``mosquitto_passwd`` 2.0 writes: ``USER:$7$101$<salt>$<hash>``, PBKDF2-SHA512
with 101 iterations and a 12-byte random salt, base64. The password never goes on the command
line (where ``ps`` and the shell history would show it). Python's standard library only.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import os
import secrets
import sys
from pathlib import Path

ITERATIONS = 101  # mosquitto_passwd 2.0's own


def hashed(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, ITERATIONS)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def set_user(path: Path, user: str, password: str) -> None:
    """Write ``path`` with ``user``'s line replaced (or added); other lines are kept as they are."""
    if not user or ":" in user:
        raise ValueError("a user name must be non-empty and without ':'")
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    kept = [line for line in lines if line.split(":", 1)[0] != user]
    text = "\n".join([*kept, f"{user}:{hashed(password)}"]) + "\n"
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, 0o640)
    temporary.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("user")
    parser.add_argument("--stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Reenter password: ") != password:
            print("the passwords do not match", file=sys.stderr)
            return 1
    if not password:
        print("an empty password is refused", file=sys.stderr)
        return 1
    set_user(args.file, args.user, password)
    return 0


if __name__ == "__main__":
    sys.exit(main())
