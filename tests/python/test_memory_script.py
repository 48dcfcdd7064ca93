"""scripts/memory.sh (memory per key) at a tiny size, so it cannot rot.

Checks that every row is printed with a number for both servers, at 0.5 s after the load
and settled (SETTLE=1 here: a second later), never how many bytes.
"""

import os
import re
import subprocess

from conftest import ROOT, _binary

ROWS = [
    "per string key (",
    "per string key with a TTL",
    "per hash (300 x 10 fields of 7 B",
    "per hash (300 x 10 fields `f0`",
    "per list (",
    "per sorted set (",
]


def test_memory_script_prints_every_row():
    env = dict(
        os.environ,
        FERROKV_BIN=str(_binary()),
        NO_BUILD="1",
        STRINGS="2000",
        HASHES="300",
        LISTS="300",
        ZSETS="300",
        SETTLE="1",
    )
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "memory.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for label in ROWS:
        line = next((l for l in proc.stdout.splitlines() if label in l), None)
        assert line is not None, (label, proc.stdout)
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 7, line
        float(cells[1]), float(cells[2])  # both servers measured
        float(cells[4]), float(cells[5])  # and their settled readings
    assert re.search(r"TTL costs .*redis -?[0-9.]+, ferrokv -?[0-9.]+", proc.stdout), proc.stdout
