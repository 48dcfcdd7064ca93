//! RESP2/RESP3 for ferrokv: an incremental, zero-copy request parser and a reply writer.
//!
//! The parser knows nothing about commands: it turns bytes into argument vectors (multibulk
//! or inline form, as redis-server accepts them). The writer knows the connection's protocol
//! version, so callers say "map of n" or "null" once and both RESP2 and RESP3 come out right.

mod parser;
mod writer;

pub use parser::{parse_request, split_inline_args, ArgSink, Args, Limits, ParseError, Parsed};
pub use writer::{format_double, ReplyWriter};
