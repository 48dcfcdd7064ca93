#!/usr/bin/env python3
"""Print ferrokv command-table entries (`Command { .. }` with flags, ACL categories, tips,
summary, since, complexity, history and documented arguments) for the named commands, read
from a running redis-server 7.0 with COMMAND INFO and COMMAND DOCS, so COMMAND INFO/DOCS of
ferrokv answer byte for byte like Redis.

Usage: REDIS_PORT=7400 scripts/command_entry_from_redis.py config client ...
Handlers are named after the full command (`config|get` -> `config_get`); key specs are
not emitted (ferrokv derives one from first/last/step unless `key_specs` is given).
Subcommands come out sorted; the ones in SKIP are left out.
"""
import socket
class R:
    def __init__(s,port):
        s.s=socket.create_connection(("127.0.0.1",port)); s.f=s.s.makefile("rb")
    def cmd(s,*args):
        out=b"*%d\r\n"%len(args)
        for a in args:
            a=a.encode() if isinstance(a,str) else a
            out+=b"$%d\r\n%s\r\n"%(len(a),a)
        s.s.sendall(out); return s.read()
    def read(s):
        line=s.f.readline(); t=chr(line[0]); rest=line[1:-2].decode()
        if t in "+": return ("status",rest)
        if t=="-": return ("error",rest)
        if t==":": return int(rest)
        if t=="$":
            n=int(rest)
            if n<0: return None
            d=s.f.read(n+2)[:-2]; return d.decode()
        if t=="_": return None
        if t in "*~>":
            n=int(rest)
            if n<0: return None
            return [s.read() for _ in range(n)]
        if t=="%":
            n=int(rest); return dict((s.read(),s.read()) for _ in range(n))
        raise Exception(line)

import sys
import os
r=R(int(os.environ.get('REDIS_PORT','6379'))); r.cmd("HELLO","3")
FLAGS={"write":"WRITE","readonly":"READONLY","denyoom":"DENYOOM","admin":"ADMIN","pubsub":"PUBSUB","noscript":"NOSCRIPT","blocking":"BLOCKING","loading":"LOADING","stale":"STALE","skip_monitor":"SKIP_MONITOR","skip_slowlog":"SKIP_SLOWLOG","fast":"FAST","no_auth":"NO_AUTH","may_replicate":"MAY_REPLICATE","no_multi":"NO_MULTI","allow_busy":"ALLOW_BUSY","no_mandatory_keys":"NO_MANDATORY_KEYS","sentinel":"SENTINEL"}
def st(x): return x[1] if isinstance(x,(list,tuple)) and len(x)==2 and x[0]=="status" else x
def q(s): return '"'+s.replace('\\','\\\\').replace('"','\\"')+'"'
def derived(flags):
    c=set()
    if "write" in flags: c.add("write")
    if "readonly" in flags: c.add("read")
    if "admin" in flags: c|={"admin","dangerous"}
    if "pubsub" in flags: c.add("pubsub")
    if "fast" in flags: c.add("fast")
    if "blocking" in flags: c.add("blocking")
    if "fast" not in c: c.add("slow")
    return c
def args_rs(args, ind):
    if not args: return "&[]"
    pad=" "*ind
    out="&[\n"
    for a in args:
        out+=pad+"    Arg {\n"
        out+=pad+f"        name: {q(a['name'])},\n"
        out+=pad+f"        kind: {q(a['type'])},\n"
        if 'key_spec_index' in a: out+=pad+f"        key_spec_index: {a['key_spec_index']},\n"
        for k in ("token","summary","since","deprecated_since"):
            if k in a: out+=pad+f"        {k}: Some({q(a[k])}),\n"
        fl=[st(f) for f in a.get("flags",[])]
        if fl: out+=pad+"        flags: "+" | ".join("argflags::"+f.upper() for f in fl)+",\n"
        if 'arguments' in a: out+=pad+"        args: "+args_rs(a['arguments'],ind+8)+",\n"
        out+=pad+"        ..Arg::DEFAULT\n"+pad+"    },\n"
    return out+pad+"]"
SKIP={'client|tracking','client|caching','latency|graph','latency|histogram'}
def entry(info, docs, ind=4):
    name=info[0]; short=name.split("|")[-1]
    flags=[st(f) for f in info[2]]
    cats=[st(c)[1:] for c in info[6]]
    pad=" "*ind
    o=pad+"Command {\n"
    o+=pad+f"    name: {q(short)},\n"+pad+f"    arity: {info[1]},\n"
    fl=[ "flags::"+FLAGS[f] for f in flags if f in FLAGS]
    unknown=[f for f in flags if f not in FLAGS and f!="movablekeys"]
    if unknown: o+=pad+f"    // unsupported flags: {unknown}\n"
    if fl: o+=pad+"    flags: "+" | ".join(fl)+",\n"
    if info[3]: o+=pad+f"    first_key: {info[3]},\n"+pad+f"    last_key: {info[4]},\n"+pad+f"    step: {info[5]},\n"
    extra=[c for c in cats if c not in derived(flags)]
    if extra: o+=pad+"    acl: "+" | ".join("acl::"+c.upper() for c in extra)+",\n"
    tips=info[7]
    if tips: o+=pad+"    tips: &["+", ".join(q(t) for t in tips)+"],\n"
    d=docs or {}
    o+=pad+f"    group: {q(d.get('group','generic'))},\n"
    o+=pad+f"    since: {q(d.get('since',''))},\n"
    o+=pad+f"    summary: {q(d.get('summary',''))},\n"
    o+=pad+f"    complexity: {q(d.get('complexity',''))},\n"
    df=[st(f) for f in d.get("doc_flags",[])]
    if df: o+=pad+"    doc_flags: "+" | ".join("doc::"+f.upper() for f in df)+",\n"
    if d.get("history"): o+=pad+"    history: &["+", ".join(f"({q(v)}, {q(t)})" for v,t in d["history"])+"],\n"
    if d.get("arguments"): o+=pad+"    args: "+args_rs(d["arguments"],ind+4)+",\n"
    if info[9]:
        subs=sorted(info[9], key=lambda s:s[0])
        sd=d.get("subcommands",{})
        o+=pad+"    subcommands: &[\n"
        for s in subs:
            if s[0] in SKIP: continue
            o+=entry(s, sd.get(s[0]), ind+8)
        o+=pad+"    ],\n"
    else:
        o+=pad+f"    handler: {name.replace('|','_').replace('-','_')},\n"
    o+=pad+"    ..Command::DEFAULT\n"+pad+"},\n"
    return o
for n in sys.argv[1:]:
    info=r.cmd("COMMAND","INFO",n)[0]
    docs=r.cmd("COMMAND","DOCS",n).get(n)
    print(entry(info,docs))
