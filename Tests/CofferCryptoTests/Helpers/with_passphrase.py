#!/usr/bin/env python3
"""Run a program on a pseudo-terminal and answer each passphrase prompt.

`age` reads passphrases only from a terminal, so the interop tests drive it
through this. Usage: with_passphrase.py PROGRAM ARGS...; the passphrase comes
from the environment variable TEST_PASSPHRASE. Exits with the program's status.
"""
import os
import pty
import sys

passphrase = os.environ["TEST_PASSPHRASE"].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])

seen = b""
answered = 0
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
    prompts = seen.lower().count(b"passphrase")
    if prompts > answered and seen.rstrip().endswith(b":"):
        os.write(fd, passphrase + b"\r")
        answered = prompts
_, status = os.waitpid(pid, 0)
sys.stderr.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
