#!/usr/bin/env python3
"""Print ferrokv command-table entries (`Command { .. }` with flags, ACL categories, tips,
summary, since, complexity, history and documented arguments) for the named commands, read
from a running redis-server 7.0 with COMMAND INFO and COMMAND DOCS, so COMMAND INFO/DOCS of
ferrokv answer byte for byte like Redis.

Usage: REDIS_PORT=7400 scripts/command_entry_from_redis.py config client ...
       REDIS_PORT=7400 scripts/command_entry_from_redis.py --rewrite crates/ferrokv/src/commands/strings.rs ...
Handlers are named after the full command (`config|get` -> `config_get`). Key specs,
doc_flags, deprecated_since and replaced_by are emitted as Redis reports them.
Subcommands come out sorted (Redis's order depends on its hash seed); the ones in SKIP
are left out.

--rewrite regenerates every `static ...: &[Command] = &[..];` table of the named family
files in place from Redis's metadata, keeping from each existing entry what is ferrokv's
own: `handler`, `lock` (with the comments above it) and `keys_fn`. Subcommands ferrokv
does not implement are left out (and named on stderr); entries Redis does not know are
kept verbatim. The legacy first/last/step come from Redis; where they differ from the
old entry it is reported on stderr (they drive shard locking).
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
FLAGS={"write":"WRITE","readonly":"READONLY","denyoom":"DENYOOM","admin":"ADMIN","pubsub":"PUBSUB","noscript":"NOSCRIPT","blocking":"BLOCKING","loading":"LOADING","stale":"STALE","skip_monitor":"SKIP_MONITOR","skip_slowlog":"SKIP_SLOWLOG","fast":"FAST","no_auth":"NO_AUTH","may_replicate":"MAY_REPLICATE","no_multi":"NO_MULTI","allow_busy":"ALLOW_BUSY","no_mandatory_keys":"NO_MANDATORY_KEYS","sentinel":"SENTINEL","no_async_loading":"NO_ASYNC_LOADING"}
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
def spec_rs(spec, ind):
    pad=" "*ind
    o=pad+"KeySpec {\n"
    o+=pad+"    notes: "+(f"Some({q(spec['notes'])})" if 'notes' in spec else "None")+",\n"
    o+=pad+"    flags: &["+", ".join(q(st(f)) for f in spec['flags'])+"],\n"
    bs=spec['begin_search']; fk=spec['find_keys']
    if bs['type']=='index':
        o+=pad+f"    begin: BeginSearch::Index({bs['spec']['index']}),\n"
    elif bs['type']=='keyword':
        o+=pad+f"    begin: BeginSearch::Keyword {{ keyword: {q(bs['spec']['keyword'])}, start_from: {bs['spec']['startfrom']} }},\n"
    elif bs['type']=='unknown':
        o+=pad+"    begin: BeginSearch::Unknown,\n"
    else: raise Exception("unsupported begin_search %r"%bs)
    if fk['type']=='range':
        f=fk['spec']; o+=pad+f"    find: FindKeys::Range {{ lastkey: {f['lastkey']}, keystep: {f['keystep']}, limit: {f['limit']} }},\n"
    elif fk['type']=='keynum':
        f=fk['spec']; o+=pad+f"    find: FindKeys::Keynum {{ keynumidx: {f['keynumidx']}, firstkey: {f['firstkey']}, keystep: {f['keystep']} }},\n"
    elif fk['type']=='unknown':
        o+=pad+"    find: FindKeys::Unknown,\n"
    else: raise Exception("unsupported find_keys %r"%fk)
    return o+pad+"}"
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
def entry(info, docs, ind=4, keep=None):
    """One `Command { .. }`; `keep` holds what the existing entry owns (see --rewrite)."""
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
    if keep and keep.get('keys_fn'): o+=pad+f"    keys_fn: {keep['keys_fn']},\n"
    extra=[c for c in cats if c not in derived(flags)]
    if extra: o+=pad+"    acl: "+" | ".join("acl::"+c.upper() for c in extra)+",\n"
    if keep and keep.get('lock'):
        o+="".join(pad+"    "+l.strip()+"\n" for l in keep['lock'])
    tips=info[7]
    if tips: o+=pad+"    tips: &["+", ".join(q(t) for t in tips)+"],\n"
    specs=info[8]
    if specs:
        o+=pad+"    key_specs: &[\n"+"".join(spec_rs(sp,ind+8)+",\n" for sp in specs)+pad+"    ],\n"
    d=docs or {}
    o+=pad+f"    group: {q(d.get('group','generic'))},\n"
    o+=pad+f"    since: {q(d.get('since',''))},\n"
    o+=pad+f"    summary: {q(d.get('summary',''))},\n"
    o+=pad+f"    complexity: {q(d.get('complexity',''))},\n"
    df=[st(f) for f in d.get("doc_flags",[])]
    if df: o+=pad+"    doc_flags: "+" | ".join("doc::"+f.upper() for f in df)+",\n"
    for k in ("deprecated_since","replaced_by"):
        if k in d: o+=pad+f"    {k}: {q(d[k])},\n"
    if d.get("history"): o+=pad+"    history: &["+", ".join(f"({q(v)}, {q(t)})" for v,t in d["history"])+"],\n"
    if d.get("arguments"): o+=pad+"    args: "+args_rs(d["arguments"],ind+4)+",\n"
    if info[9]:
        sd=d.get("subcommands",{})
        if keep and keep.get('handler'):
            # a container that answers on its own too (COMMAND without a subcommand)
            o+=pad+f"    handler: {keep['handler']},\n"
        if keep and keep.get('subs_static'):
            o+=pad+f"    subcommands: {keep['subs_static']},\n"
        else:
            o+=pad+"    subcommands: &[\n"+subs_rs(info, sd, ind+8, keep)+pad+"    ],\n"
    else:
        h=keep['handler'] if keep else name.replace('|','_').replace('-','_')
        o+=pad+f"    handler: {h},\n"
    o+=pad+"    ..Command::DEFAULT\n"+pad+"},\n"
    return o
def subs_rs(info, sd, ind, keep):
    """The subcommand entries of container `info`, in Redis's order."""
    o=""
    subs_keep=keep['subs'] if keep else None
    # Redis's own order is its dict's, which changes with every process's hash seed.
    for s in sorted(info[9], key=lambda s:s[0]):
        short=s[0].split("|")[-1]
        if subs_keep is None:
            if s[0] in SKIP: continue
            o+=entry(s, sd.get(s[0]), ind)
        elif short in subs_keep:
            o+=entry(s, sd.get(s[0]), ind, subs_keep[short])
        else:
            print(f"not implemented, left out: {s[0]}", file=sys.stderr)
    if subs_keep:
        known={s[0].split("|")[-1] for s in info[9]}
        for short,k in subs_keep.items():
            if short not in known:
                print(f"unknown to redis, kept verbatim: {info[0]}|{short}", file=sys.stderr)
                o+=" "*ind+k['text'].strip()+",\n"
    return o

# --- --rewrite: parsing the existing tables -------------------------------------------

import re
def scan_to(text, i, closer):
    """Index of the bracket that closes the one opened just before `i`."""
    depth=0
    while i < len(text):
        c=text[i]
        if c=='"':
            i+=1
            while text[i]!='"':
                i+=2 if text[i]=='\\' else 1
        elif text.startswith("//",i):
            i=text.index("\n",i)
        elif c in "([{": depth+=1
        elif c in ")]}":
            if depth==0: return i
            depth-=1
        i+=1
    raise Exception("unbalanced")
def split_items(text):
    """Top-level comma-separated items of an array body."""
    items=[]; i=0; start=0; depth=0
    while i < len(text):
        c=text[i]
        if c=='"':
            i+=1
            while text[i]!='"':
                i+=2 if text[i]=='\\' else 1
        elif text.startswith("//",i):
            i=text.index("\n",i)
            continue
        elif c in "([{": depth+=1
        elif c in ")]}": depth-=1
        elif c=="," and depth==0:
            items.append(text[start:i]); start=i+1
        i+=1
    if text[start:].strip(): items.append(text[start:])
    return [t for t in items if t.strip()]
def parse_item(t, statics):
    own=t.split("subcommands:")[0]
    m=(re.match(r'Command\s*\{\s*name:\s*"([^"]*)"',t.strip())
       or re.search(r'\.\.\s*\w+\(\s*"([^"]*)"',own) or re.match(r'\w+\(\s*"([^"]*)"',t.strip()))
    k={'name':m.group(1),'text':t}
    m=re.search(r'handler:\s*([\w:]+)',own)
    k['handler']=m.group(1) if m else None
    if not m:
        m=re.search(r'([\w:]+)\s*,?\s*\)\s*\}?\s*$',t.strip())
        if m: k['handler']=m.group(1)
    m=re.search(r'((?:[ \t]*//[^\n]*\n)*)[ \t]*(lock:[^\n]*,)\n',own)
    k['lock']=(m.group(1).splitlines()+[m.group(2)]) if m else None
    m=re.search(r'keys_fn:\s*(Some\([\w:]+\))',own)
    k['keys_fn']=m.group(1) if m else None
    helper=re.search(r'(?:^|\.\.)\s*(\w+)\(',t.strip())
    dflt=1 if helper and helper.group(1) in ('cmd','key_cmd','hash_cmd') else 0
    k['triple']=[int(re.search(f'{f}:\\s*(-?\\d+)',own).group(1)) if re.search(f'{f}:\\s*(-?\\d+)',own) else dflt for f in ('first_key','last_key','step')]
    if 'subcommands:' in t:
        rest=t.split("subcommands:",1)[1].strip()
        if rest.startswith("&["):
            body_start=t.index("&[",t.index("subcommands:"))+2
            body=t[body_start:scan_to(t,body_start,"]")]
            k['subs']={x['name']:x for x in (parse_item(i,statics) for i in split_items(body))}
        else:
            sname=re.match(r'(\w+)',rest).group(1)
            k['subs_static']=sname
            k['subs']=statics.get(sname,{}).get('items')
    return k
def rewrite(path):
    text=open(path).read()
    tables=[]
    for m in re.finditer(r'static (\w+): &\[Command\] = &\[',text):
        start=m.end(); end=scan_to(text,start,"]")
        tables.append((m.group(1),start,end))
    statics={}
    # twice: a container may name a subcommand table defined after it
    for nm,a,b in tables+tables:
        items=[parse_item(i,statics) for i in split_items(text[a:b])]
        statics[nm]={'items':{x['name']:x for x in items},'list':items,'span':(a,b)}
    # which static holds the subcommands of which container
    parent_of={}
    for nm,st_ in statics.items():
        for it in st_['list']:
            if it.get('subs_static'): parent_of[it['subs_static']]=it['name']
    out=text
    for nm,a,b in reversed(tables):
        body="\n"
        if nm in parent_of:
            parent=parent_of[nm]
            info=r.cmd("COMMAND","INFO",parent)[0]
            docs=r.cmd("COMMAND","DOCS",parent).get(parent,{})
            body+=subs_rs(info, docs.get("subcommands",{}), 4, {'subs':statics[nm]['items']})
        else:
            for it in statics[nm]['list']:
                info=r.cmd("COMMAND","INFO",it['name'])[0]
                if info is None:
                    print(f"unknown to redis, kept verbatim: {it['name']}", file=sys.stderr)
                    body+="    "+it['text'].strip()+",\n"; continue
                check(info, it)
                docs=r.cmd("COMMAND","DOCS",it['name']).get(it['name'])
                body+=entry(info, docs, 4, it)
        out=out[:a]+body+out[b:]
    open(path,"w").write(out)
def check(info, it, parent=None):
    if list(info[3:6])!=it['triple']:
        print(f"first/last/step of {info[0]}: redis {list(info[3:6])}, ferrokv had {it['triple']}", file=sys.stderr)
    for s in info[9] or []:
        short=s[0].split("|")[-1]
        if it.get('subs') and short in it['subs']: check(s, it['subs'][short])

if sys.argv[1:2]==["--rewrite"]:
    for p in sys.argv[2:]: rewrite(p)
    sys.exit(0)
for n in sys.argv[1:]:
    info=r.cmd("COMMAND","INFO",n)[0]
    docs=r.cmd("COMMAND","DOCS",n).get(n)
    print(entry(info,docs))
