"""scripts/scale.sh (the socket scaling benchmark) at a tiny size, so it cannot rot.

Checks that it runs every row and prints numbers, never how fast they are.
"""

import os
import re
import subprocess

from conftest import ROOT, _binary


def test_scale_script_runs_every_row():
    env = dict(
        os.environ,
        FERROKV_BIN=str(_binary()),
        NO_BUILD="1",
        REQUESTS="1000",
        CLIENTS="2",
        TESTS="set,get",
        THREADS="1 2",
        # a valkey-server on PATH would add rows; keep the run short and predictable
        VALKEY_SERVER="",
    )
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "scale.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0] in ("ferrokv", "redis-server"):
            rows[(cells[0], cells[1], cells[2])] = cells[3:]
    assert set(rows) == {
        ("redis-server", "1", "1"),
        ("ferrokv", "1", "1"),
        ("ferrokv", "2", "1"),
        ("redis-server", "1", "16"),
        ("ferrokv", "1", "16"),
    }, proc.stdout
    for key, (set_rps, set_p99, get_rps, get_p99) in rows.items():
        assert int(set_rps) > 0 and int(get_rps) > 0, (key, proc.stdout)
        assert float(set_p99) >= 0 and float(get_p99) >= 0, (key, proc.stdout)
    assert re.search(r"set N=2: [0-9.]+x", proc.stdout), proc.stdout
    assert re.search(r"get: [0-9.]+x", proc.stdout), proc.stdout
