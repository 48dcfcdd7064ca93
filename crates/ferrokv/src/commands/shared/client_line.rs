//! One CLIENT LIST line (Redis's `catClientInfoString`), shared by CLIENT LIST/INFO and the
//! ACL log's `client-info`.

use crate::server::{Client, ClientHandle};

/// The name of the user a client is authenticated as.
pub fn user_name(h: &ClientHandle) -> String {
    match &*h.user.lock() {
        Some(u) => u.name_str(),
        None => "default".into(),
    }
}

/// The line (with its newline) for a client from its live state, while it runs `cmd`.
pub fn own_line(c: &Client, cmd: &str, resp3: bool) -> String {
    format_line(
        &c.handle,
        &LineFields {
            name: &c.name,
            idle: 0,
            flags: &c.flag_letters(),
            db: c.db,
            multi: c.multi.as_ref().map(|q| q.len() as i64).unwrap_or(-1),
            qbuf: c.batch_qbuf,
            buf_caps: c.buf_caps,
            cmd,
            resp: if resp3 { 3 } else { 2 },
            lib_name: &c.lib_name,
            lib_ver: &c.lib_ver,
            subs: [
                c.subs.channels.len(),
                c.subs.patterns.len(),
                c.subs.shard.len(),
            ],
            redir: c.tracking_redir(),
        },
    )
}

/// The per-client values of a CLIENT LIST line.
pub struct LineFields<'a> {
    pub name: &'a [u8],
    pub idle: u64,
    pub flags: &'a str,
    pub db: usize,
    pub multi: i64,
    pub qbuf: usize,
    /// Capacity of the query and the reply buffer.
    pub buf_caps: (usize, usize),
    pub cmd: &'a str,
    pub resp: u8,
    pub lib_name: &'a [u8],
    pub lib_ver: &'a [u8],
    /// Channels, patterns and shard channels subscribed.
    pub subs: [usize; 3],
    /// The tracking redirect (-1 when tracking is off).
    pub redir: i64,
}

/// Redis 7.0's `catClientInfoString` (plus 7.2's lib-name/lib-ver at the end).
pub fn format_line(h: &ClientHandle, f: &LineFields) -> String {
    const READ_BUF: usize = 16 * 1024;
    let (qbuf_cap, out_cap) = f.buf_caps;
    let qbuf_free = qbuf_cap.saturating_sub(f.qbuf);
    let (obl, oll, omem) = crate::server::output::client_list_fields(h);
    // What the connection holds: its buffers, output queued beyond them, its structures.
    let tot_mem = qbuf_cap
        + out_cap.max(obl + omem)
        + std::mem::size_of::<crate::server::Client>()
        + std::mem::size_of::<ClientHandle>();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl={} oll={} omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}\n",
        h.id,
        h.addr,
        h.laddr,
        h.fd,
        String::from_utf8_lossy(f.name),
        h.created.elapsed().as_secs(),
        f.idle,
        f.flags,
        f.db,
        f.subs[0],
        f.subs[1],
        f.subs[2],
        f.multi,
        f.qbuf,
        qbuf_free,
        READ_BUF,
        obl,
        oll,
        omem,
        tot_mem,
        f.cmd,
        user_name(h),
        f.redir,
        f.resp,
        String::from_utf8_lossy(f.lib_name),
        String::from_utf8_lossy(f.lib_ver),
    )
}
