//! COMMAND and its subcommands: everything is generated from the command table
//! (`commands::registry()`), in Redis 7's reply shapes.

use crate::commands::meta::{
    self, argflags, doc, keys_from_specs, Arg, BeginSearch, FindKeys, KeyFlags, KeySpec,
};
use crate::commands::{acl, flags, registry, CmdError, CmdResult, Command, Ctx};
use crate::storage::glob::glob_match;
use crate::util::eq_ic;
use resp::ReplyWriter;

/// The COMMAND command.
pub static COMMANDS: &[Command] =
    &[
        Command::new("command", -1, flags::LOADING | flags::STALE, command_all)
            .acl(acl::CONNECTION)
            .subcommands(&[
                Command::new("count", 2, flags::LOADING | flags::STALE, command_count)
                    .acl(acl::CONNECTION),
                Command::new("docs", -2, flags::LOADING | flags::STALE, command_docs)
                    .acl(acl::CONNECTION),
                Command::new(
                    "getkeys",
                    -4,
                    flags::LOADING | flags::STALE,
                    command_getkeys,
                )
                .acl(acl::CONNECTION),
                Command::new(
                    "getkeysandflags",
                    -4,
                    flags::LOADING | flags::STALE,
                    command_getkeysandflags,
                )
                .acl(acl::CONNECTION),
                Command::new("help", 2, flags::LOADING | flags::STALE, command_help)
                    .acl(acl::CONNECTION),
                Command::new("info", -2, flags::LOADING | flags::STALE, command_info)
                    .acl(acl::CONNECTION),
                Command::new("list", -2, flags::LOADING | flags::STALE, command_list)
                    .acl(acl::CONNECTION),
            ]),
    ];

/// Flag names in COMMAND INFO order; `movablekeys` is derived from `keys_fn`.
fn flag_names(cmd: &Command) -> Vec<&'static str> {
    let mut v = Vec::new();
    for (bit, name) in flags::NAMES {
        if *bit == flags::ALLOW_BUSY && cmd.keys_fn.is_some() {
            v.push("movablekeys");
        }
        if cmd.flags & bit != 0 {
            v.push(*name);
        }
    }
    if cmd.keys_fn.is_some() && !v.contains(&"movablekeys") {
        v.push("movablekeys");
    }
    v
}

/// One key spec as COMMAND INFO renders it (a map).
fn write_key_spec(out: &mut ReplyWriter, spec: &KeySpec) {
    out.map(if spec.notes.is_some() { 4 } else { 3 });
    if let Some(notes) = spec.notes {
        out.bulk(b"notes");
        out.bulk(notes.as_bytes());
    }
    out.bulk(b"flags");
    out.set(spec.flags.len());
    for f in spec.flags {
        out.simple(f);
    }
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match spec.begin {
        BeginSearch::Index(i) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i as i64);
        }
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(start_from as i64);
        }
        BeginSearch::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match spec.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(lastkey as i64);
            out.bulk(b"keystep");
            out.int(keystep as i64);
            out.bulk(b"limit");
            out.int(limit as i64);
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(keynumidx as i64);
            out.bulk(b"firstkey");
            out.int(firstkey as i64);
            out.bulk(b"keystep");
            out.int(keystep as i64);
        }
        FindKeys::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

/// One COMMAND INFO entry: name, arity, flags, first, last, step, ACL categories, tips,
/// key specs, subcommands.
pub fn write_info(out: &mut ReplyWriter, full_name: &str, cmd: &Command) {
    out.array(10);
    out.bulk(full_name.as_bytes());
    out.int(cmd.arity as i64);
    let fl = flag_names(cmd);
    out.set(fl.len());
    for f in fl {
        out.simple(f);
    }
    out.int(cmd.first_key as i64);
    out.int(cmd.last_key as i64);
    out.int(cmd.step as i64);
    let cats = cmd.acl_categories();
    let names: Vec<&str> = acl::NAMES
        .iter()
        .filter(|(bit, _)| cats & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(names.len());
    for n in names {
        out.simple(&format!("@{}", n));
    }
    let docs = meta::docs(full_name);
    out.set(docs.tips.len());
    for t in docs.tips {
        out.bulk(t.as_bytes());
    }
    out.set(docs.key_specs.len());
    for s in docs.key_specs {
        write_key_spec(out, s);
    }
    // Redis answers an empty set for "no subcommands" and an array otherwise.
    if cmd.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(cmd.subcommands.len());
    }
    for sub in cmd.subcommands {
        write_info(out, &format!("{}|{}", full_name, sub.name), sub);
    }
}

fn write_args(out: &mut ReplyWriter, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        let flag_names: Vec<&str> = [
            (argflags::OPTIONAL, "optional"),
            (argflags::MULTIPLE, "multiple"),
            (argflags::MULTIPLE_TOKEN, "multiple_token"),
        ]
        .iter()
        .filter(|(b, _)| a.flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
        let n = 2
            + usize::from(a.key_spec_index >= 0)
            + usize::from(a.token.is_some())
            + usize::from(a.summary.is_some())
            + usize::from(a.since.is_some())
            + usize::from(a.deprecated_since.is_some())
            + usize::from(!flag_names.is_empty())
            + usize::from(!a.args.is_empty());
        out.map(n);
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.as_bytes());
        if a.key_spec_index >= 0 {
            out.bulk(b"key_spec_index");
            out.int(a.key_spec_index as i64);
        }
        for (k, v) in [
            ("token", a.token),
            ("summary", a.summary),
            ("since", a.since),
            ("deprecated_since", a.deprecated_since),
        ] {
            if let Some(v) = v {
                out.bulk(k.as_bytes());
                out.bulk(v.as_bytes());
            }
        }
        if !flag_names.is_empty() {
            out.bulk(b"flags");
            out.set(flag_names.len());
            for f in flag_names {
                out.simple(f);
            }
        }
        if !a.args.is_empty() {
            out.bulk(b"arguments");
            write_args(out, a.args);
        }
    }
}

/// One COMMAND DOCS value (a map): summary, since, group, complexity, doc_flags,
/// deprecated_since, replaced_by, history, arguments, subcommands — each only when present, as Redis does.
pub fn write_docs(out: &mut ReplyWriter, full_name: &str, cmd: &Command) {
    let docs = meta::docs(full_name);
    let n = 1
        + usize::from(!docs.summary.is_empty())
        + usize::from(!docs.since.is_empty())
        + usize::from(!docs.complexity.is_empty())
        + usize::from(docs.doc_flags != 0)
        + usize::from(!docs.deprecated_since.is_empty())
        + usize::from(!docs.replaced_by.is_empty())
        + usize::from(!docs.history.is_empty())
        + usize::from(!docs.args.is_empty())
        + usize::from(!cmd.subcommands.is_empty());
    out.map(n);
    if !docs.summary.is_empty() {
        out.bulk(b"summary");
        out.bulk(docs.summary.as_bytes());
    }
    if !docs.since.is_empty() {
        out.bulk(b"since");
        out.bulk(docs.since.as_bytes());
    }
    out.bulk(b"group");
    out.bulk(docs.group.as_bytes());
    if !docs.complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(docs.complexity.as_bytes());
    }
    if docs.doc_flags != 0 {
        let names: Vec<&str> = [(doc::DEPRECATED, "deprecated"), (doc::SYSCMD, "syscmd")]
            .iter()
            .filter(|(b, _)| docs.doc_flags & b != 0)
            .map(|(_, n)| *n)
            .collect();
        out.bulk(b"doc_flags");
        out.set(names.len());
        for f in names {
            out.simple(f);
        }
    }
    for (k, v) in [
        ("deprecated_since", docs.deprecated_since),
        ("replaced_by", docs.replaced_by),
    ] {
        if !v.is_empty() {
            out.bulk(k.as_bytes());
            out.bulk(v.as_bytes());
        }
    }
    if !docs.history.is_empty() {
        out.bulk(b"history");
        out.set(docs.history.len());
        for (v, what) in docs.history {
            out.array(2);
            out.bulk(v.as_bytes());
            out.bulk(what.as_bytes());
        }
    }
    if !docs.args.is_empty() {
        out.bulk(b"arguments");
        write_args(out, docs.args);
    }
    if !cmd.subcommands.is_empty() {
        out.bulk(b"subcommands");
        out.map(cmd.subcommands.len());
        for sub in cmd.subcommands {
            let full = format!("{}|{}", full_name, sub.name);
            out.bulk(full.as_bytes());
            write_docs(out, &full, sub);
        }
    }
}

/// Look up a command by (possibly `parent|sub`) name, case-insensitively.
fn lookup_full(name: &[u8]) -> Option<(String, &'static Command)> {
    let lower = crate::util::lower(name);
    let reg = registry();
    match lower.split_once('|') {
        None => reg.lookup(name).map(|(_, c)| (lower.clone(), c)),
        Some((parent, sub)) => {
            let (_, p) = reg.lookup(parent.as_bytes())?;
            reg.lookup_sub(p.name, sub.as_bytes())
                .map(|(_, c)| (lower.clone(), c))
        }
    }
}

fn command_all(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let top = &registry().top;
    ctx.out.array(top.len());
    for cmd in top {
        write_info(ctx.out, cmd.name, cmd);
    }
    Ok(())
}

fn command_count(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(registry().top.len() as i64);
    Ok(())
}

fn command_info(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() == 2 {
        return command_all(ctx, args);
    }
    ctx.out.array(args.len() - 2);
    for name in &args[2..] {
        match lookup_full(name) {
            Some((full, cmd)) => write_info(ctx.out, &full, cmd),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn command_docs(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let found: Vec<(String, &'static Command)> = if args.len() == 2 {
        registry()
            .top
            .iter()
            .map(|c| (c.name.to_string(), *c))
            .collect()
    } else {
        args[2..].iter().filter_map(|n| lookup_full(n)).collect()
    };
    ctx.out.map(found.len());
    for (name, cmd) in found {
        ctx.out.bulk(name.as_bytes());
        write_docs(ctx.out, &name, cmd);
    }
    Ok(())
}

/// Resolve the command of COMMAND GETKEYS and find its keys with their key-spec flags,
/// as Redis's `getKeysSubcommandImpl` does.
fn keys_of<'a>(args: &[&'a [u8]]) -> Result<Vec<(&'a [u8], KeyFlags)>, CmdError> {
    let target = &args[2..];
    let reg = registry();
    let (mut id, mut cmd) = reg
        .lookup(target[0])
        .ok_or(CmdError::Static("ERR Invalid command specified"))?;
    if let (false, Some(sub)) = (cmd.subcommands.is_empty(), target.get(1)) {
        (id, cmd) = reg
            .lookup_sub(cmd.name, sub)
            .ok_or(CmdError::Static("ERR Invalid command specified"))?;
    }
    let specs = meta::docs(reg.full_name(id)).key_specs;
    if specs.is_empty() && cmd.keys_fn.is_none() {
        return Err(CmdError::Static("ERR The command has no key arguments"));
    }
    if !cmd.arity_ok(target.len()) {
        return Err(CmdError::Static(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let keys = keys_with_flags(cmd, specs, target);
    if keys.is_empty() && !cmd.has(flags::NO_MANDATORY_KEYS) {
        return Err(CmdError::Static(
            "ERR Invalid arguments specified for command",
        ));
    }
    Ok(keys
        .into_iter()
        .filter_map(|(p, f)| target.get(p).map(|k| (*k, f)))
        .collect())
}

/// Key positions and flags, as Redis's `getKeysFromCommandWithSpecs`: from the key specs
/// unless one has `variable_flags`, in which case the command's own key finder decides
/// the flags (SET: `GET` makes it a read; BITFIELD: only GET/OVERFLOW makes it read-only).
fn keys_with_flags(cmd: &Command, specs: &[KeySpec], target: &[&[u8]]) -> Vec<(usize, KeyFlags)> {
    let varflags = specs.iter().any(|s| s.flags.contains(&"variable_flags"));
    if !varflags {
        if let Some(keys) = keys_from_specs(specs, target, cmd.arity) {
            return keys;
        }
    }
    // Redis's `getkeys_proc` fallbacks of the commands ferrokv implements.
    if cmd.name == "sort" {
        // `sortGetKeys`: the sorted key is read, STORE's destination overwritten.
        return cmd
            .key_positions(target)
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let f: KeyFlags = if i == 0 {
                    &["RO", "access"]
                } else {
                    &["OW", "update"]
                };
                (p, f)
            })
            .collect();
    }
    let flags: KeyFlags = match cmd.name {
        "set" => set_key_flags(target),
        "bitfield" => bitfield_key_flags(target),
        _ if cmd.keys_fn.is_some() => specs.first().map(|s| s.flags).unwrap_or(&[]),
        _ => return Vec::new(),
    };
    cmd.key_positions(target)
        .into_iter()
        .map(|p| (p, flags))
        .collect()
}

/// Redis's `setGetKeys`: `GET` anywhere after the value reads the old value.
fn set_key_flags(target: &[&[u8]]) -> KeyFlags {
    if target.iter().skip(3).any(|a| eq_ic(a, "get")) {
        &["RW", "access", "update"]
    } else {
        &["OW", "update"]
    }
}

/// Redis's `bitfieldGetKeys`: read-only while only GET and OVERFLOW (with all their
/// arguments) appear.
fn bitfield_key_flags(target: &[&[u8]]) -> KeyFlags {
    let mut i = 2;
    let readonly = loop {
        if i >= target.len() {
            break true;
        }
        let remaining = target.len() - i - 1;
        let arg = target[i];
        if eq_ic(arg, "get") && remaining >= 2 {
            i += 3;
        } else if (eq_ic(arg, "set") || eq_ic(arg, "incrby")) && remaining >= 3 {
            break false;
        } else if eq_ic(arg, "overflow") && remaining >= 1 {
            i += 2;
        } else {
            // A syntax error: Redis assumes a write to be safe.
            break false;
        }
    };
    if readonly {
        &["RO", "access"]
    } else {
        &["RW", "access", "update"]
    }
}

fn command_getkeys(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let keys = keys_of(args)?;
    ctx.out.array(keys.len());
    for (k, _) in keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn command_getkeysandflags(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let keys = keys_of(args)?;
    ctx.out.array(keys.len());
    for (k, key_flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(k);
        ctx.out.set(key_flags.len());
        for f in key_flags {
            ctx.out.simple(f);
        }
    }
    Ok(())
}

fn command_list(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    enum Filter<'a> {
        All,
        Module,
        AclCat(u32),
        Pattern(&'a [u8]),
    }
    let filter = match args.len() {
        2 => Filter::All,
        5 if eq_ic(args[2], "filterby") => {
            if eq_ic(args[3], "module") {
                Filter::Module
            } else if eq_ic(args[3], "aclcat") {
                let cat = crate::util::lower(args[4]);
                let bit = acl::NAMES
                    .iter()
                    .find(|(_, n)| *n == cat)
                    .map(|(b, _)| *b)
                    .unwrap_or(0);
                Filter::AclCat(bit)
            } else if eq_ic(args[3], "pattern") {
                Filter::Pattern(args[4])
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let names: Vec<&str> = registry()
        .entries
        .iter()
        .filter(|(name, cmd)| match filter {
            Filter::All => true,
            Filter::Module => false,
            Filter::AclCat(bit) => bit != 0 && cmd.acl_categories() & bit != 0,
            Filter::Pattern(p) => glob_match(p, name.as_bytes(), true),
        })
        .map(|(name, _)| name.as_str())
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    crate::commands::shared::help::help_reply(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_renders() {
        for (name, cmd) in &registry().entries {
            let mut out = ReplyWriter::new();
            write_info(&mut out, name, cmd);
            write_docs(&mut out, name, cmd);
            assert!(!out.buf.is_empty());
        }
    }

    #[test]
    fn config_get_info_matches_redis() {
        let (full, cmd) = lookup_full(b"CONFIG|GET").expect("config|get exists");
        let mut out = ReplyWriter::new();
        write_info(&mut out, &full, cmd);
        assert_eq!(
            out.buf,
            b"*10\r\n$10\r\nconfig|get\r\n:-3\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*3\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n*0\r\n*0\r\n*0\r\n"
        );
    }

    #[test]
    fn variable_key_flags() {
        let v = |a: &[&'static str]| a.iter().map(|s| s.as_bytes()).collect::<Vec<&[u8]>>();
        assert_eq!(set_key_flags(&v(&["set", "k", "v"])), &["OW", "update"]);
        assert_eq!(
            set_key_flags(&v(&["set", "k", "v", "NX", "get"])),
            &["RW", "access", "update"]
        );
        assert_eq!(
            bitfield_key_flags(&v(&["bitfield", "k", "get", "u8", "0"])),
            &["RO", "access"]
        );
        assert_eq!(
            bitfield_key_flags(&v(&["bitfield", "k", "get", "u8"])),
            &["RW", "access", "update"]
        );
        assert_eq!(
            bitfield_key_flags(&v(&["bitfield", "k", "incrby", "u8", "0", "1"])),
            &["RW", "access", "update"]
        );
    }
}
