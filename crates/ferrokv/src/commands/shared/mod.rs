//! Helpers shared by several command families. A family never imports another family (see
//! `families/mod.rs`); what two of them need lives here, each module named for what it
//! does, not for the family it came from.

pub mod block;
pub mod client_attrs;
pub mod client_line;
pub mod help;
pub mod list_ops;
pub mod longdouble;
pub mod pops;
pub mod scan_args;
pub mod stream_args;
pub mod stream_groups;
pub mod watch;
