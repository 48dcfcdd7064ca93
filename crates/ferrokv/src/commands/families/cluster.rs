//! CLUSTER, READONLY, READWRITE and ASKING as a Redis 7.0 server with `cluster-enabled no`
//! answers them: every one is known (COMMAND, ACL categories, arity errors, "not allowed
//! from script" for CLUSTER RESET) and refused with Redis's "cluster support disabled".

use crate::commands::{acl, flags, CmdError, CmdResult, Command, Ctx};

const DISABLED: CmdError = CmdError::Static("ERR This instance has cluster support disabled");

/// Flags Redis gives the CLUSTER subcommands that change the cluster's configuration.
const ADMIN: u32 = flags::ADMIN | flags::STALE | flags::NO_ASYNC_LOADING;

/// The cluster family's table.
pub static COMMANDS: &[Command] = &[
    Command::container("cluster", -2, 0).subcommands(&[
        Command::new("addslots", -3, ADMIN, disabled),
        Command::new("addslotsrange", -4, ADMIN, disabled),
        Command::new("bumpepoch", 2, ADMIN, disabled),
        Command::new(
            "count-failure-reports",
            3,
            flags::ADMIN | flags::STALE,
            disabled,
        ),
        Command::new("countkeysinslot", 3, flags::STALE, disabled),
        Command::new("delslots", -3, ADMIN, disabled),
        Command::new("delslotsrange", -4, ADMIN, disabled),
        Command::new("failover", -2, ADMIN, disabled),
        Command::new("flushslots", 2, ADMIN, disabled),
        Command::new("forget", 3, ADMIN, disabled),
        Command::new("getkeysinslot", 4, flags::STALE, disabled),
        Command::new("help", 2, flags::LOADING | flags::STALE, disabled),
        Command::new("info", 2, flags::STALE, disabled),
        Command::new("keyslot", 3, flags::STALE, disabled),
        Command::new("links", 2, flags::STALE, disabled),
        Command::new("meet", -4, ADMIN, disabled),
        Command::new("myid", 2, flags::STALE, disabled),
        Command::new("nodes", 2, flags::STALE, disabled),
        Command::new("replicas", 3, flags::ADMIN | flags::STALE, disabled),
        Command::new("replicate", 3, ADMIN, disabled),
        Command::new(
            "reset",
            -2,
            flags::ADMIN | flags::NOSCRIPT | flags::STALE,
            disabled,
        ),
        Command::new("saveconfig", 2, ADMIN, disabled),
        Command::new("set-config-epoch", 3, ADMIN, disabled),
        Command::new("setslot", -4, ADMIN, disabled),
        Command::new("shards", 2, flags::STALE, disabled),
        Command::new("slaves", 3, flags::ADMIN | flags::STALE, disabled),
        Command::new("slots", 2, flags::STALE, disabled),
    ]),
    Command::new(
        "readonly",
        1,
        flags::LOADING | flags::STALE | flags::FAST,
        disabled,
    )
    .acl(acl::CONNECTION),
    Command::new(
        "readwrite",
        1,
        flags::LOADING | flags::STALE | flags::FAST,
        disabled,
    )
    .acl(acl::CONNECTION),
    Command::new("asking", 1, flags::FAST, disabled).acl(acl::CONNECTION),
];

/// Every cluster command, HELP included, answers the same error on a standalone server.
fn disabled(_ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    Err(DISABLED)
}
