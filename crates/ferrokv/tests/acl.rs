//! ACL against a real redis-server 7.0: the categories of every command, a permission
//! matrix (a user allowed one category runs every command), the ACL log's fields, what
//! happens to other connections (DELUSER, CLIENT KILL USER, revoked channels, EXEC after a
//! rule change, RESET, requirepass), and users from an ACL file or the config file. Each
//! scenario runs on both servers and the transcripts must be equal.

// Transcripts are built step by step, one push per request.
#![allow(clippy::vec_init_then_push)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::{
    escape, parse_reply, redis_server_bin, start_ferrokv_with, start_ferrokv_with_config,
    start_server, Conn, Reply, ServerGuard,
};

fn conn(port: u16) -> Conn {
    Conn::connect(port).expect("connect")
}

/// Send and return the raw reply as text (errors included); `<closed>` if the server closed
/// the connection.
fn req(c: &mut Conn, args: &[&str]) -> String {
    match c.request(args) {
        Ok(f) => escape(&f),
        Err(_) => "<closed>".into(),
    }
}

fn reply(c: &mut Conn, args: &[&str]) -> Reply {
    c.cmd(args)
}

fn strings(r: &Reply) -> Vec<String> {
    r.expect_array()
        .iter()
        .map(|x| x.text().unwrap_or_default())
        .collect()
}

/// A real redis-server with extra arguments (an ACL file, a config file first).
fn start_redis_args(config: Option<&Path>, extra: &[String]) -> ServerGuard {
    let bin = redis_server_bin();
    let config = config.map(|c| c.display().to_string());
    let extra = extra.to_vec();
    start_server("redis", &bin, &move |port| {
        let mut v: Vec<String> = config.iter().cloned().collect();
        v.extend([
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--daemonize".into(),
            "no".into(),
        ]);
        v.extend(extra.iter().cloned());
        v
    })
}

fn both() -> (ServerGuard, ServerGuard) {
    (start_ferrokv_with(2, &[]), start_redis_args(None, &[]))
}

/// Run `scenario` against both servers and compare the transcripts line by line.
fn compare(name: &str, scenario: &dyn Fn(u16) -> Vec<String>) {
    let (f, r) = both();
    let fv = scenario(f.port);
    let rv = scenario(r.port);
    assert_transcripts(name, &fv, &rv);
}

fn assert_transcripts(name: &str, fv: &[String], rv: &[String]) {
    for (i, (a, b)) in fv.iter().zip(rv.iter()).enumerate() {
        assert_eq!(a, b, "{}: step {} differs (ferrokv vs redis)", name, i);
    }
    assert_eq!(fv.len(), rv.len(), "{}: transcript lengths", name);
}

/// Every command and subcommand a server has (the union of its categories).
fn all_commands(c: &mut Conn) -> BTreeMap<String, BTreeSet<String>> {
    let cats = strings(&reply(c, &["ACL", "CAT"]));
    let mut by_cat = BTreeMap::new();
    for cat in cats {
        let cmds: BTreeSet<String> = strings(&reply(c, &["ACL", "CAT", &cat]))
            .into_iter()
            .collect();
        by_cat.insert(cat, cmds);
    }
    by_cat
}

fn universe(by_cat: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    by_cat.values().flatten().cloned().collect()
}

#[test]
fn categories_match_redis() {
    let (f, r) = both();
    let fc = all_commands(&mut conn(f.port));
    let rc = all_commands(&mut conn(r.port));
    assert_eq!(
        fc.keys().collect::<Vec<_>>(),
        rc.keys().collect::<Vec<_>>(),
        "category names"
    );
    let common: BTreeSet<String> = universe(&fc)
        .intersection(&universe(&rc))
        .cloned()
        .collect();
    assert!(
        common.len() > 300,
        "too few common commands: {}",
        common.len()
    );
    for (cat, fset) in &fc {
        let f: BTreeSet<_> = fset.intersection(&common).collect();
        let r: BTreeSet<_> = rc[cat].intersection(&common).collect();
        let only_f: Vec<_> = f.difference(&r).collect();
        let only_r: Vec<_> = r.difference(&f).collect();
        assert!(
            only_f.is_empty() && only_r.is_empty(),
            "@{}: only in ferrokv {:?}, only in redis {:?}",
            cat,
            only_f,
            only_r
        );
    }
}

/// Arguments that satisfy a command's arity: the name (and subcommand), then fillers.
fn plausible_args(full: &str, arity: i64) -> Vec<String> {
    let mut v: Vec<String> = full.split('|').map(String::from).collect();
    let need = arity.unsigned_abs() as usize;
    let mut n = 0;
    while v.len() < need {
        // Numbers where counts are expected keep many commands past their parsers.
        v.push(if n % 2 == 0 { "k".into() } else { "1".into() });
        n += 1;
    }
    v
}

fn arities(c: &mut Conn, cmds: &BTreeSet<String>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for full in cmds {
        let r = reply(
            c,
            &["COMMAND", "INFO", full.split('|').next().unwrap_or("")],
        );
        let Some(Reply::Array(info)) = r.expect_array().first().cloned() else {
            continue;
        };
        let arity = match full.split_once('|') {
            None => match info.get(1) {
                Some(Reply::Int(a)) => *a,
                _ => continue,
            },
            Some(_) => {
                // Subcommands are the 10th element of a container's entry.
                let Some(Reply::Array(subs)) = info.get(9) else {
                    continue;
                };
                let found = subs.iter().find_map(|s| match s {
                    Reply::Array(e)
                        if e.first().and_then(|x| x.text()).as_deref() == Some(full) =>
                    {
                        match e.get(1) {
                            Some(Reply::Int(a)) => Some(*a),
                            _ => None,
                        }
                    }
                    _ => None,
                });
                match found {
                    Some(a) => a,
                    None => continue,
                }
            }
        };
        out.insert(full.clone(), arity);
    }
    out
}

/// Commands not run for real in the matrix (they block, close the connection, change its
/// mode, or take the server down); ACL DRYRUN still covers them.
fn unsafe_to_run(full: &str, cats: &BTreeMap<String, BTreeSet<String>>) -> bool {
    let risky = [
        "dangerous",
        "blocking",
        "pubsub",
        "connection",
        "transaction",
        "scripting",
    ];
    risky
        .iter()
        .any(|c| cats.get(*c).is_some_and(|s| s.contains(full)))
        || full.starts_with("xread")
        || full.starts_with("client")
        || full == "monitor"
}

#[test]
fn permission_matrix() {
    let (f, r) = both();
    let (mut fa, mut ra) = (conn(f.port), conn(r.port));
    let fc = all_commands(&mut fa);
    let rc = all_commands(&mut ra);
    let common: BTreeSet<String> = universe(&fc)
        .intersection(&universe(&rc))
        .cloned()
        .collect();
    let arity = arities(&mut ra, &common);
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for cat in rc.keys() {
        let rule = format!("+@{}", cat);
        for a in [&mut fa, &mut ra] {
            let ok = req(
                a,
                &[
                    "ACL", "SETUSER", "m", "reset", "on", "nopass", "~*", "&*", &rule,
                ],
            );
            assert_eq!(ok, "+OK\\r\\n");
        }
        let (mut fm, mut rm) = (conn(f.port), conn(r.port));
        assert_eq!(req(&mut fm, &["AUTH", "m", "x"]), "+OK\\r\\n");
        assert_eq!(req(&mut rm, &["AUTH", "m", "x"]), "+OK\\r\\n");
        for (full, ar) in &arity {
            let args = plausible_args(full, *ar);
            let mut dry = vec!["ACL".to_string(), "DRYRUN".into(), "m".into()];
            dry.extend(args.iter().cloned());
            let dry: Vec<&str> = dry.iter().map(String::as_str).collect();
            let fd = req(&mut fa, &dry);
            let rd = req(&mut ra, &dry);
            checked += 1;
            if fd != rd {
                mismatches.push(format!(
                    "@{} DRYRUN {}: ferrokv {} redis {}",
                    cat, full, fd, rd
                ));
            }
            if unsafe_to_run(full, &rc) {
                continue;
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let fe = req(&mut fm, &argv).starts_with("-NOPERM");
            let re = req(&mut rm, &argv).starts_with("-NOPERM");
            if fe != re {
                mismatches.push(format!(
                    "@{} {}: ferrokv denied={} redis denied={}",
                    cat, full, fe, re
                ));
            }
        }
    }
    assert!(checked > 5000, "only {} checks", checked);
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// ACL LOG entries without the fields that cannot match (age, client details).
fn log_view(c: &mut Conn) -> Vec<String> {
    let frame = c.request(&["ACL", "LOG"]).expect("acl log");
    let r = parse_reply(&frame).expect("parse");
    let mut out = Vec::new();
    for e in r.expect_array() {
        let fields: Vec<Reply> = match e {
            Reply::Array(v) => v.clone(),
            Reply::Map(m) => m.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
            _ => panic!("entry {:?}", e),
        };
        let mut line = String::new();
        for pair in fields.chunks(2) {
            let key = pair[0].text().unwrap_or_default();
            let val = &pair[1];
            match key.as_str() {
                "age-seconds" => {
                    let age: f64 = match val {
                        Reply::Double(s) => s.parse().unwrap_or(-1.0),
                        other => other.text().unwrap_or_default().parse().unwrap_or(-1.0),
                    };
                    assert!((0.0..60.0).contains(&age), "age {}", age);
                    line.push_str("age-seconds=ok ");
                }
                "client-info" => {
                    let info = val.text().unwrap_or_default();
                    let user = info
                        .split(' ')
                        .find(|w| w.starts_with("user="))
                        .unwrap_or("user=?");
                    let cmd = info
                        .split(' ')
                        .find(|w| w.starts_with("cmd="))
                        .unwrap_or("cmd=?");
                    line.push_str(&format!("client-info[{} {}] ", user, cmd));
                }
                _ => line.push_str(&format!("{}={:?} ", key, val)),
            }
        }
        out.push(line);
    }
    out
}

#[test]
fn acl_log_entries() {
    compare("acl log", &|port| {
        let mut admin = conn(port);
        let mut u = conn(port);
        let mut t = Vec::new();
        t.push(req(&mut admin, &["ACL", "LOG", "RESET"]));
        t.push(req(
            &mut admin,
            &[
                "ACL", "SETUSER", "lg", "on", ">pw", "~k*", "&c*", "+get", "+publish", "+multi",
                "+exec", "+eval", "+set",
            ],
        ));
        t.push(req(&mut u, &["AUTH", "lg", "bad"]));
        t.push(req(&mut u, &["auth", "nosuchuser", "bad"]));
        t.push(req(&mut u, &["HELLO", "2", "AUTH", "lg", "bad"]));
        t.push(req(&mut u, &["AUTH", "lg", "pw"]));
        t.push(req(&mut u, &["HSET", "k", "f", "v"]));
        t.push(req(&mut u, &["HSET", "k", "f", "v"]));
        t.push(req(&mut u, &["GET", "x"]));
        t.push(req(&mut u, &["PUBLISH", "zz", "m"]));
        t.push(req(&mut u, &["CONFIG", "SET", "maxmemory", "0"]));
        t.push(req(&mut u, &["MULTI"]));
        t.push(req(&mut u, &["GET", "other"]));
        t.push(req(&mut u, &["EXEC"]));
        t.push(req(&mut u, &["EVAL", "return redis.call('get','y')", "0"]));
        t.push(req(
            &mut u,
            &["EVAL", "return redis.pcall('hget','k','f')", "0"],
        ));
        t.extend(log_view(&mut admin));
        t.push(
            reply(&mut admin, &["ACL", "LOG", "2"])
                .expect_array()
                .len()
                .to_string(),
        );
        t.push(req(&mut admin, &["CONFIG", "SET", "acllog-max-len", "3"]));
        t.push(log_view(&mut admin).len().to_string());
        t.push(req(&mut u, &["GET", "trim"]));
        t.push(log_view(&mut admin).len().to_string());
        t.push(req(&mut admin, &["ACL", "LOG", "RESET"]));
        t.push(req(&mut admin, &["ACL", "LOG"]));
        t.push(req(&mut admin, &["ACL", "DELUSER", "lg"]));
        t
    });
}

/// Whether the server closed `c` (a PING gets no answer).
fn closed(c: &mut Conn) -> String {
    c.timeout = Duration::from_secs(2);
    req(c, &["PING"])
}

#[test]
fn other_connections() {
    compare("other connections", &|port| {
        let mut admin = conn(port);
        let mut t = Vec::new();
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "a", "on", "nopass", "~*", "&*", "+@all"],
        ));
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "b", "on", "nopass", "~*", "&*", "+@all"],
        ));
        // DELUSER disconnects the user's clients.
        let mut ca = conn(port);
        t.push(req(&mut ca, &["AUTH", "a", "x"]));
        t.push(req(&mut ca, &["ACL", "WHOAMI"]));
        let mut cb1 = conn(port);
        let mut cb2 = conn(port);
        t.push(req(&mut cb1, &["AUTH", "b", "x"]));
        t.push(req(&mut cb2, &["AUTH", "b", "x"]));
        t.push(req(&mut admin, &["ACL", "DELUSER", "a"]));
        t.push(closed(&mut ca));
        // Deleting one's own user: the reply, then the connection closes.
        let mut cs = conn(port);
        t.push(
            req(&mut cs, &["HELLO", "3", "AUTH", "b", "x"])
                .starts_with("%7")
                .to_string(),
        );
        t.push(req(
            &mut admin,
            &[
                "ACL", "SETUSER", "self", "on", "nopass", "~*", "&*", "+@all",
            ],
        ));
        t.push(req(&mut cs, &["AUTH", "self", "x"]));
        t.push(req(&mut cs, &["ACL", "DELUSER", "self"]));
        t.push(closed(&mut cs));
        // CLIENT KILL USER.
        t.push(req(&mut admin, &["CLIENT", "KILL", "USER", "b"]));
        t.push(closed(&mut cb1));
        t.push(closed(&mut cb2));
        t.push(req(&mut admin, &["CLIENT", "KILL", "USER", "nosuch"]));
        t.push(
            req(&mut admin, &["CLIENT", "LIST", "USER", "b"])
                .split(' ')
                .count()
                .to_string(),
        );
        // Subscribers whose channel is revoked are disconnected; others are pardoned.
        t.push(req(
            &mut admin,
            &[
                "ACL",
                "SETUSER",
                "s",
                "on",
                "nopass",
                "resetchannels",
                "&news.*",
                "&chat",
                "+@all",
            ],
        ));
        let mut s1 = conn(port);
        let mut s2 = conn(port);
        t.push(req(&mut s1, &["AUTH", "s", "x"]));
        t.push(req(&mut s2, &["AUTH", "s", "x"]));
        t.push(req(&mut s1, &["SUBSCRIBE", "news.1"]));
        t.push(req(&mut s2, &["SUBSCRIBE", "chat"]));
        t.push(req(&mut s1, &["SUBSCRIBE", "other"]));
        t.push(req(&mut s1, &["PSUBSCRIBE", "news.*"]));
        t.push(req(&mut s1, &["PSUBSCRIBE", "news.x*"]));
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "s", "resetchannels", "&chat", "&news.2"],
        ));
        t.push(closed(&mut s1));
        t.push(req(&mut admin, &["PUBLISH", "chat", "hi"]));
        t.push(escape(&s2.read_frame().unwrap_or_default()));
        t.push(req(&mut admin, &["ACL", "SETUSER", "s", "allchannels"]));
        t.push(req(&mut admin, &["PUBLISH", "chat", "again"]));
        t.push(escape(&s2.read_frame().unwrap_or_default()));
        // EXEC checks the rules again.
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "e", "on", "nopass", "~*", "&*", "+@all"],
        ));
        let mut ce = conn(port);
        t.push(req(&mut ce, &["AUTH", "e", "x"]));
        t.push(req(&mut ce, &["MULTI"]));
        t.push(req(&mut ce, &["SET", "k", "1"]));
        t.push(req(&mut ce, &["GET", "k"]));
        t.push(req(&mut ce, &["PUBLISH", "ch", "m"]));
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "e", "-get", "resetchannels"],
        ));
        t.push(req(&mut ce, &["EXEC"]));
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "e", "resetkeys", "~x*"],
        ));
        t.push(req(&mut ce, &["MULTI"]));
        t.push(req(&mut ce, &["PING"]));
        t.push(req(&mut ce, &["SET", "k", "2"]));
        t.push(req(&mut ce, &["EXEC"]));
        // RESET authenticates as default again.
        t.push(req(&mut ce, &["RESET"]));
        t.push(req(&mut ce, &["ACL", "WHOAMI"]));
        t.push(req(&mut ce, &["GET", "k"]));
        // A disabled user cannot authenticate; its clients stay.
        let mut cd = conn(port);
        t.push(req(&mut cd, &["AUTH", "e", "x"]));
        t.push(req(&mut admin, &["ACL", "SETUSER", "e", "off"]));
        t.push(req(&mut cd, &["PING"]));
        t.push(req(&mut conn(port), &["AUTH", "e", "x"]));
        t.push(req(&mut admin, &["ACL", "DELUSER", "b", "s", "e"]));
        t
    });
}

#[test]
fn requirepass_is_the_default_password() {
    compare("requirepass", &|port| {
        let mut admin = conn(port);
        let mut t = Vec::new();
        t.push(req(&mut admin, &["CONFIG", "SET", "requirepass", "secret"]));
        t.push(req(&mut admin, &["ACL", "LIST"]));
        t.push(req(&mut admin, &["ACL", "GETUSER", "default"]));
        let mut c = conn(port);
        t.push(req(&mut c, &["GET", "k"]));
        t.push(req(&mut c, &["ACL", "WHOAMI"]));
        t.push(req(&mut c, &["AUTH", "wrong"]));
        t.push(req(&mut c, &["HELLO", "3"]));
        t.push(req(&mut c, &["AUTH", "secret"]));
        t.push(req(&mut c, &["ACL", "WHOAMI"]));
        let mut h = conn(port);
        t.push(req(&mut h, &["HELLO", "2", "AUTH", "default", "wrong"]));
        let hello = req(&mut h, &["HELLO", "2", "AUTH", "default", "secret"]);
        t.push(hello.starts_with("*14").to_string());
        t.push(req(&mut h, &["RESET"]));
        t.push(req(&mut h, &["GET", "k"]));
        t.push(req(&mut admin, &["CONFIG", "GET", "requirepass"]));
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "default", "resetpass", ">other"],
        ));
        t.push(req(&mut conn(port), &["AUTH", "other"]));
        t.push(req(&mut admin, &["CONFIG", "SET", "requirepass", ""]));
        t.push(req(&mut admin, &["ACL", "LIST"]));
        t.push(req(&mut conn(port), &["AUTH", "x"]));
        t.push(req(&mut conn(port), &["GET", "k"]));
        // SLOWLOG hides SETUSER's arguments.
        t.push(req(
            &mut admin,
            &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
        ));
        t.push(req(
            &mut admin,
            &["ACL", "SETUSER", "hidden", "on", ">secret"],
        ));
        let log = reply(&mut admin, &["SLOWLOG", "GET", "2"]);
        let args: Vec<Vec<String>> = log
            .expect_array()
            .iter()
            .map(|e| match e {
                Reply::Array(f) => f.get(3).map(strings).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect();
        t.push(format!("{:?}", args));
        t.push(req(
            &mut admin,
            &["CONFIG", "SET", "slowlog-log-slower-than", "10000"],
        ));
        t.push(req(&mut admin, &["ACL", "DELUSER", "hidden"]));
        // A disabled default user: everybody must authenticate.
        t.push(req(&mut admin, &["ACL", "SETUSER", "default", "off"]));
        t.push(req(&mut conn(port), &["GET", "k"]));
        t.push(req(&mut conn(port), &["AUTH", "default", "x"]));
        t.push(req(&mut admin, &["ACL", "SETUSER", "default", "on"]));
        t.push(req(&mut conn(port), &["GET", "k"]));
        t
    });
}

const ACL_FILE: &str = "user default on nopass ~* &* +@all\n\
user alice on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 ~a* %R~r* &ch* -@all +@hash +get\n\
user bob off resetchannels -@all\n\
user carol on nopass ~* &* +@all -@dangerous (~c* -@all +set)\n";

fn acl_file_scenario(port: u16, file: &Path) -> Vec<String> {
    let mut admin = conn(port);
    let mut t = Vec::new();
    t.push(req(&mut admin, &["ACL", "LIST"]));
    let mut alice = conn(port);
    t.push(req(&mut alice, &["AUTH", "alice", "password"]));
    t.push(req(&mut alice, &["HSET", "a1", "f", "v"]));
    t.push(req(&mut alice, &["HSET", "r1", "f", "v"]));
    t.push(req(
        &mut admin,
        &["ACL", "SETUSER", "dave", "on", ">pw", "~d*", "+@string"],
    ));
    t.push(req(&mut admin, &["ACL", "DELUSER", "bob"]));
    t.push(req(&mut admin, &["ACL", "SAVE"]));
    t.push(std::fs::read_to_string(file).unwrap_or_default());
    // LOAD: a broken file changes nothing.
    std::fs::write(file, "user eve on nopass +@all\nnot a user line\n").expect("write");
    let e = req(&mut admin, &["ACL", "LOAD"]);
    t.push(e.starts_with("-ERR").to_string());
    t.push(req(&mut admin, &["ACL", "USERS"]));
    std::fs::write(file, ACL_FILE).expect("write");
    t.push(req(&mut admin, &["ACL", "LOAD"]));
    t.push(req(&mut admin, &["ACL", "LIST"]));
    t.push(req(&mut alice, &["ACL", "WHOAMI"]));
    t.push(req(&mut admin, &["ACL", "WHOAMI"]));
    t
}

#[test]
fn acl_file_save_and_load() {
    let fdir = common::TempDir::new("acl-f");
    let rdir = common::TempDir::new("acl-r");
    let ffile = fdir.path().join("users.acl");
    let rfile = rdir.path().join("users.acl");
    std::fs::write(&ffile, ACL_FILE).expect("write");
    std::fs::write(&rfile, ACL_FILE).expect("write");
    let f = start_ferrokv_with(2, &["--aclfile", &ffile.display().to_string()]);
    let r = start_redis_args(None, &["--aclfile".into(), rfile.display().to_string()]);
    let fv = acl_file_scenario(f.port, &ffile);
    let rv = acl_file_scenario(r.port, &rfile);
    assert_transcripts("acl file", &fv, &rv);
}

#[test]
fn users_in_the_config_file() {
    let dir = common::TempDir::new("acl-conf");
    let conf = dir.path().join("acl.conf");
    std::fs::write(
        &conf,
        "requirepass foobared\n\
         user alice on >alicepw ~* &* +@all -flushall\n\
         user bob on nopass ~b* +@read\n",
    )
    .expect("write");
    let f = start_ferrokv_with_config(&conf, 2, &[]);
    let r = start_redis_args(Some(&conf), &[]);
    let scenario = |port: u16| {
        let mut c = conn(port);
        let mut t = Vec::new();
        t.push(req(&mut c, &["GET", "k"]));
        t.push(req(&mut c, &["AUTH", "foobared"]));
        t.push(req(&mut c, &["ACL", "LIST"]));
        t.push(req(&mut c, &["AUTH", "alice", "alicepw"]));
        t.push(req(&mut c, &["FLUSHALL"]));
        t.push(req(&mut c, &["AUTH", "bob", "x"]));
        t.push(req(&mut c, &["GET", "b1"]));
        t.push(req(&mut c, &["GET", "k1"]));
        t
    };
    assert_transcripts("config users", &scenario(f.port), &scenario(r.port));
    // CONFIG REWRITE writes the users back as `user` lines.
    let rewrite = |port: u16, file: &Path| {
        let mut c = conn(port);
        let mut t = vec![req(&mut c, &["AUTH", "foobared"])];
        t.push(req(
            &mut c,
            &["ACL", "SETUSER", "carol", "on", ">c", "~c*", "+@hash"],
        ));
        t.push(req(&mut c, &["ACL", "DELUSER", "bob"]));
        t.push(req(&mut c, &["CONFIG", "REWRITE"]));
        let text = std::fs::read_to_string(file).unwrap_or_default();
        t.extend(
            text.lines()
                .filter(|l| l.starts_with("user "))
                .map(String::from),
        );
        t
    };
    let fconf = dir.path().join("f.conf");
    let rconf = dir.path().join("r.conf");
    std::fs::copy(&conf, &fconf).expect("copy");
    std::fs::copy(&conf, &rconf).expect("copy");
    let f = start_ferrokv_with_config(&fconf, 2, &[]);
    let r = start_redis_args(Some(&rconf), &[]);
    assert_transcripts(
        "config rewrite users",
        &rewrite(f.port, &fconf),
        &rewrite(r.port, &rconf),
    );
}
