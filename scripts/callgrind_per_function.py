#!/usr/bin/env python3
"""Instructions per request, per function: a callgrind run minus its baseline run.

Reads the function table of `callgrind_annotate` for both files (self cost by default),
subtracts the baseline's count of each function, divides by the number of requests and
prints the top functions, then the same numbers summed into coarse groups (event loop
runtime, connection loop, parsing, syscall wrappers, per-batch bookkeeping, the rest).

    KEEP_WORKDIRS=1 PIPELINE=1 TESTS=get scripts/callgrind.sh   # keeps the .callgrind files
    scripts/callgrind_per_function.py DIR/ferrokv-get.callgrind DIR/ferrokv-baseline.callgrind 20000
    scripts/callgrind_per_function.py --inclusive --top 20 TEST BASELINE REQUESTS
"""
import argparse
import re
import subprocess
from collections import defaultdict

ROW = re.compile(r"\s*([\d,]+)\s+\([^)]*\)\s+(?:\*\s+)?(.*)$")


def per_function(path, inclusive):
    """Instructions per function name (summed over the files it was inlined from)."""
    args = ["callgrind_annotate", "--threshold=100"]
    if inclusive:
        args.append("--inclusive=yes")
    out = subprocess.run(args + [path], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "file:function" in line) + 2
    counts = defaultdict(int)
    for line in lines[start:]:
        if not line.strip() or line.startswith("----"):
            break  # end of the function table (per-line annotations follow)
        m = ROW.match(line)
        if not m:
            continue
        name = re.sub(r" \[[^\]]*\]$", "", m.group(2))  # drop the object file
        name = name.split(":", 1)[1] if ":" in name else name  # drop the source file
        counts[name] += int(m.group(1).replace(",", ""))
    return counts


def group(name):
    """The coarse part of a request a function belongs to."""
    if "tokio::" in name or name.startswith("mio::"):
        return "event loop runtime (tokio / mio)"
    if name in ("recv", "send", "epoll_wait", "read", "write",
                "__pthread_enable_asynccancel", "__pthread_disable_asynccancel"):
        return "libc syscall wrappers"
    if name.startswith("resp::parser"):
        return "parsing (resp::parser)"
    if "publish_info" in name or "start_batch" in name:
        return "per-batch client bookkeeping"
    if "server::reactor" in name or "server::connection" in name:
        return "connection loop itself"
    return "dispatch, command, keyspace, reply (and the rest)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test")
    ap.add_argument("baseline")
    ap.add_argument("requests", type=int)
    ap.add_argument("--inclusive", action="store_true")
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    test, base = per_function(a.test, a.inclusive), per_function(a.baseline, a.inclusive)
    rows = sorted(((n - base.get(f, 0)) / a.requests, f) for f, n in test.items())
    rows.reverse()
    for v, f in rows[: a.top]:
        print("%7.0f  %s" % (v, f[:150]))
    if not a.inclusive:
        groups = defaultdict(float)
        for v, f in rows:
            groups[group(f)] += v
        print("-- groups (self cost)")
        for g, v in sorted(groups.items(), key=lambda x: -x[1]):
            print("%7.0f  %s" % (v, g))
        print("%7.0f  total" % sum(groups.values()))


if __name__ == "__main__":
    main()
