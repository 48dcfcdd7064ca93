//! One ACL selector (the root one of a user, or a `(...)` one): which commands, keys and
//! channels it allows, how SETUSER's rules change it, and how Redis 7.0 describes it.

use crate::commands::{acl as cat, registry, Command};
use crate::storage::glob::glob_match;

/// Key pattern permission: read (`%R~`).
pub const PERM_READ: u8 = 1;
/// Key pattern permission: write (`%W~`).
pub const PERM_WRITE: u8 = 2;
/// Both (`~`).
pub const PERM_ALL: u8 = PERM_READ | PERM_WRITE;

/// Why a SETUSER rule was refused (Redis's `ACLSetUserStringError` texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    /// ENOENT.
    Unknown,
    /// EINVAL.
    Syntax,
    /// EEXIST.
    AfterAllKeys,
    /// EISDIR.
    AfterAllChannels,
    /// ENODEV.
    NoSuchPassword,
    /// EBADMSG.
    BadHash,
    /// ECHILD.
    SubcommandFirstArg,
}

impl RuleError {
    /// Redis's text for the error.
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::AfterAllKeys => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::AfterAllChannels => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// Why a command was refused (ordered as Redis ranks them when picking the error to report
/// across selectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    /// The command (or subcommand) is not allowed.
    Command,
    /// A key (argument index) is not allowed.
    Key(usize),
    /// A channel (argument index) is not allowed.
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }

    /// Redis's `ACLCheckAllUserCommandPerm` choice: the highest reason, then the last index.
    pub fn worse(self, other: Denied) -> Denied {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// Commands, keys and channels one selector allows.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    /// Every command (cleared as soon as one command is removed).
    pub all_commands: bool,
    /// Redis's reserved bit: set only by `+@all`, so commands added later are allowed.
    pub future: bool,
    /// Any key (`allkeys` / `~*`).
    pub all_keys: bool,
    /// Any channel (`allchannels` / `&*`).
    pub all_channels: bool,
    /// One bit per registry id.
    allowed: Vec<u64>,
    /// First arguments allowed for a command whose bit is off (`+select|0`), by id.
    pub first_args: Vec<(usize, Vec<Vec<u8>>)>,
    /// Key patterns with their [`PERM_READ`]/[`PERM_WRITE`] bits, in order.
    pub keys: Vec<(u8, Vec<u8>)>,
    /// Channel patterns, in order.
    pub channels: Vec<Vec<u8>>,
}

impl Selector {
    /// An empty selector: nothing allowed; channels per `acl-pubsub-default`.
    pub fn new(all_channels: bool) -> Selector {
        Selector {
            allowed: vec![0; registry().len().div_ceil(64)],
            all_channels,
            ..Selector::default()
        }
    }

    /// Whether command `id`'s bit is on.
    pub fn bit(&self, id: usize) -> bool {
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.allowed.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.all_commands = false;
            }
        }
    }

    /// Redis's `ACLChangeSelectorPerm`: a command and all its subcommands, first args reset.
    fn change_perm(&mut self, id: usize, on: bool) {
        self.first_args.retain(|(i, _)| *i != id);
        self.set_bit(id, on);
        let reg = registry();
        if let Some((name, cmd)) = reg.entries.get(id) {
            if !cmd.subcommands.is_empty() {
                for sub in cmd.subcommands {
                    if let Some((sid, _)) = reg.lookup_sub(name, sub.name.as_bytes()) {
                        self.first_args.retain(|(i, _)| *i != sid);
                        self.set_bit(sid, on);
                    }
                }
            }
        }
    }

    fn set_category(&mut self, flag: u32, on: bool) {
        let reg = registry();
        for id in 0..reg.len() {
            if reg
                .entries
                .get(id)
                .is_some_and(|(_, c)| c.acl_categories() & flag != 0)
            {
                self.first_args.retain(|(i, _)| *i != id);
                self.set_bit(id, on);
            }
        }
    }

    fn set_all(&mut self, on: bool) {
        let fill = if on { u64::MAX } else { 0 };
        self.allowed.iter_mut().for_each(|w| *w = fill);
        self.all_commands = on;
        self.future = on;
        self.first_args.clear();
    }

    /// Apply one rule (`~key`, `+get`, `allchannels`...); Redis's `ACLSetSelector`.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"allkeys" | b"~*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            b"allchannels" | b"&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            b"allcommands" | b"+@all" => self.set_all(true),
            b"nocommands" | b"-@all" => self.set_all(false),
            _ => return self.apply_pattern_or_command(op),
        }
        Ok(())
    }

    fn apply_pattern_or_command(&mut self, op: &[u8]) -> Result<(), RuleError> {
        match op.first() {
            Some(b'~') | Some(b'%') => self.add_key_pattern(op),
            Some(b'&') => {
                if self.all_channels {
                    return Err(RuleError::AfterAllChannels);
                }
                let pat = op.get(1..).unwrap_or_default().to_vec();
                if !self.channels.contains(&pat) {
                    self.channels.push(pat);
                }
                Ok(())
            }
            Some(b'+') if op.get(1) != Some(&b'@') => {
                self.allow_command(op.get(1..).unwrap_or_default())
            }
            Some(b'-') if op.get(1) != Some(&b'@') => {
                let (id, _) = lookup(op.get(1..).unwrap_or_default()).ok_or(RuleError::Unknown)?;
                self.change_perm(id, false);
                Ok(())
            }
            Some(b'+') | Some(b'-') => {
                let name = op.get(2..).unwrap_or_default();
                let flag = category_flag(name).ok_or(RuleError::Unknown)?;
                self.set_category(flag, op.first() == Some(&b'+'));
                Ok(())
            }
            _ => Err(RuleError::Syntax),
        }
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::AfterAllKeys);
        }
        let (flags, pattern) = if op.first() == Some(&b'%') {
            let mut flags = 0u8;
            let mut at = None;
            for (i, &c) in op.iter().enumerate().skip(1) {
                match c.to_ascii_uppercase() {
                    b'R' if flags & PERM_READ == 0 => flags |= PERM_READ,
                    b'W' if flags & PERM_WRITE == 0 => flags |= PERM_WRITE,
                    b'~' => {
                        at = Some(i + 1);
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
            }
            // Without a `~` the pattern is empty (Redis accepts `%R`).
            match at {
                _ if flags == 0 => return Err(RuleError::Syntax),
                Some(i) => (flags, op.get(i..).unwrap_or_default()),
                None => (flags, &b""[..]),
            }
        } else {
            (PERM_ALL, op.get(1..).unwrap_or_default())
        };
        if let Some(existing) = self.keys.iter_mut().find(|(_, p)| p == pattern) {
            existing.0 |= flags;
        } else {
            self.keys.push((flags, pattern.to_vec()));
        }
        Ok(())
    }

    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let (id, _) = lookup(name).ok_or(RuleError::Unknown)?;
            self.change_perm(id, true);
            return Ok(());
        };
        let (head, sub) = (&name[..bar], &name[bar + 1..]);
        let (id, cmd) = lookup(head).ok_or(RuleError::Unknown)?;
        if head.contains(&b'|') {
            return Err(RuleError::SubcommandFirstArg);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !cmd.subcommands.is_empty() {
            let (sid, _) = lookup(name).ok_or(RuleError::Unknown)?;
            self.change_perm(sid, true);
        } else {
            let sub = sub.to_ascii_lowercase();
            match self.first_args.iter_mut().find(|(i, _)| *i == id) {
                Some((_, list)) if !list.contains(&sub) => list.push(sub),
                Some(_) => {}
                None => self.first_args.push((id, vec![sub])),
            }
        }
        Ok(())
    }

    /// Redis's `ACLSelectorCheckCmd`.
    pub fn check(&self, id: usize, cmd: &Command, args: &[&[u8]]) -> Result<(), Denied> {
        if !self.all_commands && !cmd.has(crate::commands::flags::NO_AUTH) && !self.bit(id) {
            let parent = registry().full_name(id).contains('|');
            let arg = args.get(if parent { 2 } else { 1 });
            let ok = arg.is_some_and(|a| {
                self.first_args
                    .iter()
                    .find(|(i, _)| *i == id)
                    .is_some_and(|(_, l)| l.iter().any(|f| f.eq_ignore_ascii_case(a)))
            });
            if !ok {
                return Err(Denied::Command);
            }
        }
        if !self.all_keys {
            for (pos, flags) in key_args(id, cmd, args) {
                let key = args.get(pos).copied().unwrap_or_default();
                if !self.key_allowed(key, flags) {
                    return Err(Denied::Key(pos));
                }
            }
        }
        if !self.all_channels {
            for (pos, pattern) in channel_args(id, args) {
                let ch = args.get(pos).copied().unwrap_or_default();
                if !channel_allowed(&self.channels, ch, pattern) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }

    /// Redis's `ACLSelectorCheckKey`.
    pub fn key_allowed(&self, key: &[u8], need: u8) -> bool {
        self.all_keys
            || self
                .keys
                .iter()
                .any(|(f, p)| f & need == need && glob_match(p, key, false))
    }

    /// Redis's `ACLDescribeSelector`: keys, channels, command rules.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.all_keys {
            s.push_str("~* ");
        } else {
            for (f, p) in &self.keys {
                s.push_str(&pattern_string(*f, p));
                s.push(' ');
            }
        }
        if self.all_channels {
            s.push_str("&* ");
        } else {
            s.push_str("resetchannels ");
            for c in &self.channels {
                s.push('&');
                s.push_str(&String::from_utf8_lossy(c));
                s.push(' ');
            }
        }
        s.push_str(&self.describe_commands());
        s
    }

    /// The `keys` field of ACL GETUSER.
    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|(f, p)| pattern_string(*f, p))
            .collect();
        parts.join(" ")
    }

    /// The `channels` field of ACL GETUSER.
    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// Redis 7.0's `ACLDescribeSelectorCommandRules`: `+@all`/`-@all`, then the categories
    /// that best approximate the bits (greedy), then single commands to fix the rest.
    pub fn describe_commands(&self) -> String {
        let additive = !self.future;
        let mut rules = String::from(if additive { "-@all " } else { "+@all " });
        let mut fake = Selector::new(false);
        fake.set_all(!additive);
        let mut temp = self.clone();
        let mut applied = vec![false; cat::NAMES.len()];
        loop {
            let mut best: Option<usize> = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0usize);
            for (j, (flag, _)) in cat::NAMES.iter().enumerate() {
                if applied.get(j).copied().unwrap_or(true) {
                    continue;
                }
                let (on, off) = temp.count_category(*flag);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let (flag, name) = cat::NAMES[j];
            fake.set_category(flag, additive);
            temp.set_category(flag, !additive);
            rules.push_str(if additive { "+@" } else { "-@" });
            rules.push_str(name);
            rules.push(' ');
            if let Some(a) = applied.get_mut(j) {
                *a = true;
            }
        }
        self.fix_single_commands(&mut fake, &mut rules);
        rules.pop();
        rules
    }

    fn fix_single_commands(&self, fake: &mut Selector, rules: &mut String) {
        let reg = registry();
        for id in 0..reg.len() {
            let (mine, theirs) = (self.bit(id), fake.bit(id));
            if mine != theirs {
                rules.push(if mine { '+' } else { '-' });
                rules.push_str(reg.full_name(id));
                rules.push(' ');
                fake.change_perm(id, mine);
            }
            if let Some((_, args)) = self.first_args.iter().find(|(i, _)| *i == id) {
                for a in args {
                    rules.push('+');
                    rules.push_str(reg.full_name(id));
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(a));
                    rules.push(' ');
                }
            }
        }
    }

    fn count_category(&self, flag: u32) -> (usize, usize) {
        let reg = registry();
        let (mut on, mut off) = (0, 0);
        for id in 0..reg.len() {
            if reg
                .entries
                .get(id)
                .is_some_and(|(_, c)| c.acl_categories() & flag != 0)
            {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }
}

fn pattern_string(flags: u8, pattern: &[u8]) -> String {
    let prefix = match flags {
        PERM_READ => "%R~",
        PERM_WRITE => "%W~",
        _ => "~",
    };
    format!("{}{}", prefix, String::from_utf8_lossy(pattern))
}

/// A command or `container|sub` by name (case-insensitive).
pub fn lookup(name: &[u8]) -> Option<(usize, &'static Command)> {
    let reg = registry();
    match name.iter().position(|&b| b == b'|') {
        None => reg.lookup(name),
        Some(bar) => {
            let (parent, _) = reg.lookup(&name[..bar])?;
            reg.lookup_sub(reg.full_name(parent), &name[bar + 1..])
        }
    }
}

/// The category bit named `name` (without `@`).
pub fn category_flag(name: &[u8]) -> Option<u32> {
    cat::NAMES
        .iter()
        .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|(f, _)| *f)
}

/// Key arguments with the permission each needs (from the key specs' flags, as Redis's
/// `getKeysFromCommandWithSpecs`; the command's own key finder when the specs cannot say).
pub fn key_args(id: usize, cmd: &Command, args: &[&[u8]]) -> Vec<(usize, u8)> {
    let name = registry().full_name(id);
    // Key specs with `variable_flags`: Redis asks the command's own key finder.
    match name {
        "set" => return vec![(1, set_key_need(args))],
        "bitfield" => return vec![(1, bitfield_key_need(args))],
        // Redis's `sortGetKeys`: the sorted key is read, STORE's destination written.
        "sort" | "sort_ro" => {
            return cmd
                .key_positions(args)
                .into_iter()
                .map(|p| (p, if p == 1 { PERM_READ } else { PERM_WRITE }))
                .collect()
        }
        _ => {}
    }
    let docs = crate::commands::meta::docs(name);
    let need = |flags: &[&str]| {
        let mut n = 0;
        if flags.contains(&"access") {
            n |= PERM_READ;
        }
        if flags
            .iter()
            .any(|f| matches!(*f, "insert" | "delete" | "update"))
        {
            n |= PERM_WRITE;
        }
        n
    };
    if !docs.key_specs.is_empty() {
        if let Some(keys) = crate::commands::meta::keys_from_specs(docs.key_specs, args, cmd.arity)
        {
            return keys.into_iter().map(|(p, f)| (p, need(f))).collect();
        }
    }
    // A key count the arguments cannot hold: Redis's key finders (EVAL, ZUNION...) find
    // no keys; the command itself reports the error.
    if docs
        .key_specs
        .iter()
        .any(|s| matches!(s.find, crate::commands::meta::FindKeys::Keynum { .. }))
    {
        return Vec::new();
    }
    let all = docs.key_specs.iter().fold(0, |acc, s| acc | need(s.flags));
    cmd.key_positions(args)
        .into_iter()
        .map(|p| (p, all))
        .collect()
}

/// SET's key: read and write with `GET`, else write only (Redis's `setGetKeys`).
fn set_key_need(args: &[&[u8]]) -> u8 {
    if args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) {
        PERM_ALL
    } else {
        PERM_WRITE
    }
}

/// BITFIELD's key: read only when every operation is a GET (Redis's `bitfieldGetKeys`).
fn bitfield_key_need(args: &[&[u8]]) -> u8 {
    let mut i = 2;
    while i < args.len() {
        let rem = args.len() - i - 1;
        let a = args.get(i).copied().unwrap_or_default();
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            return PERM_ALL;
        }
    }
    PERM_READ
}

/// Channel arguments a command publishes or subscribes to (`true`: a pattern).
pub fn channel_args(id: usize, args: &[&[u8]]) -> Vec<(usize, bool)> {
    match registry().full_name(id) {
        "publish" | "spublish" => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..args.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..args.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// Redis's `ACLCheckChannelAgainstList`: patterns match literally, channels by glob.
pub fn channel_allowed(list: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p == channel
        } else {
            glob_match(p, channel, false)
        }
    })
}
