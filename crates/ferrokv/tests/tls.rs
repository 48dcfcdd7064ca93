//! TLS over real sockets, with certificates this test makes with the openssl CLI (a CA, a
//! server certificate, a client certificate, a second server certificate for reloading, and
//! a client certificate from another CA). Clients are the real ones: `redis-cli --tls` and
//! `openssl s_client` (raw RESP, to compare ferrokv's bytes with redis-server's over TLS).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use common::{free_port, redis_server_bin, start_server, Conn, Reply, ServerGuard, TempDir};

/// The test PKI, in a temporary folder.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "openssl is needed for the TLS tests (apt-get install openssl): {}",
                e
            )
        });
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate `name` (CN `cn`) signed by `ca`, with X.509 v3 extensions `ext`.
fn issue(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str) {
    std::fs::write(dir.join(format!("{}.ext", name)), ext).expect("write ext");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-nodes",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-keyout",
            &format!("{}.key", name),
            "-out",
            &format!("{}.csr", name),
            "-subj",
            &format!("/CN={}", cn),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{}.csr", name),
            "-CA",
            &format!("{}.crt", ca),
            "-CAkey",
            &format!("{}.key", ca),
            "-CAcreateserial",
            "-out",
            &format!("{}.crt", name),
            "-days",
            "30",
            "-extfile",
            &format!("{}.ext", name),
        ],
    );
}

fn make_pki() -> Pki {
    let dir = TempDir::new("tls-pki");
    let d = dir.path().to_path_buf();
    for ca in ["ca", "ca2"] {
        openssl(
            &d,
            &[
                "req",
                "-x509",
                "-new",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-keyout",
                &format!("{}.key", ca),
                "-out",
                &format!("{}.crt", ca),
                "-days",
                "30",
                "-subj",
                &format!("/CN=Test {}", ca),
            ],
        );
    }
    let server_ext = "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n";
    let client_ext = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n";
    issue(&d, "ca", "server", "ferrokv-server-one", server_ext);
    issue(&d, "ca", "server2", "ferrokv-server-two", server_ext);
    issue(&d, "ca", "client", "client-one", client_ext);
    issue(&d, "ca2", "stranger", "client-of-another-ca", client_ext);
    // server2's key encrypted with a password (PKCS#8, PBES2), for tls-key-file-pass.
    openssl(
        &d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "server2.key",
            "-out",
            "server2-enc.key",
            "-passout",
            "pass:s3cret",
            "-v2",
            "aes-256-cbc",
        ],
    );
    Pki { dir }
}

/// Start `program` with a plain port and a TLS port; returns the guard and the TLS port.
fn start_tls(name: &'static str, program: &Path, pki: &Pki, extra: &[&str]) -> (ServerGuard, u16) {
    let tls_port = Mutex::new(0u16);
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let guard = start_server(name, program, &|port| {
        let t = free_port();
        *tls_port.lock().unwrap_or_else(|e| e.into_inner()) = t;
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--tls-port",
            &t.to_string(),
            "--tls-cert-file",
            &pki.path("server.crt"),
            "--tls-key-file",
            &pki.path("server.key"),
            "--tls-ca-cert-file",
            &pki.path("ca.crt"),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        args
    });
    let t = *tls_port.lock().unwrap_or_else(|e| e.into_inner());
    (guard, t)
}

fn ferrokv(pki: &Pki, extra: &[&str]) -> (ServerGuard, u16) {
    start_tls("ferrokv", &common::ferrokv_bin(), pki, extra)
}

fn redis(pki: &Pki, extra: &[&str]) -> (ServerGuard, u16) {
    start_tls("redis", &redis_server_bin(), pki, extra)
}

/// Which client certificate a connection presents.
#[derive(Clone, Copy)]
enum Cert {
    None,
    Good,
    OtherCa,
}

fn cert_args(pki: &Pki, cert: Cert) -> Vec<String> {
    match cert {
        Cert::None => vec![],
        Cert::Good => vec![
            "--cert".into(),
            pki.path("client.crt"),
            "--key".into(),
            pki.path("client.key"),
        ],
        Cert::OtherCa => vec![
            "--cert".into(),
            pki.path("stranger.crt"),
            "--key".into(),
            pki.path("stranger.key"),
        ],
    }
}

/// `redis-cli --tls` with `args`.
fn cli(pki: &Pki, port: u16, cert: Cert, args: &[&str]) -> Output {
    Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "--tls",
            "--cacert",
            &pki.path("ca.crt"),
        ])
        .args(cert_args(pki, cert))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli (apt-get install redis-tools)")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The raw bytes the server sends back for `requests` (inline commands, QUIT last) over
/// TLS, read with `openssl s_client`; also what s_client printed about the certificate.
fn raw_tls(pki: &Pki, port: u16, requests: &str) -> (Vec<u8>, String) {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-ign_eof",
            "-connect",
            &format!("127.0.0.1:{}", port),
            "-CAfile",
            &pki.path("ca.crt"),
            "-cert",
            &pki.path("client.crt"),
            "-key",
            &pki.path("client.key"),
            "-verify_return_error",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(requests.as_bytes())
            .expect("write requests");
    }
    let out = child.wait_with_output().expect("s_client output");
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The subject CN of the certificate a new TLS connection gets.
fn served_cn(pki: &Pki, port: u16) -> String {
    let (_, info) = raw_tls(pki, port, "QUIT\r\n");
    info.lines()
        .find_map(|l| l.trim().strip_prefix("depth=0 CN = "))
        .or_else(|| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix("depth=0 CN="))
        })
        .unwrap_or("")
        .to_string()
}

/// A command's reply as text: strings as they are, errors without `-`, arrays one element a
/// line.
fn text(conn: &mut Conn, args: &[&str]) -> String {
    fn render(r: &Reply) -> String {
        match r {
            Reply::Error(e) => e.clone(),
            Reply::Int(n) => n.to_string(),
            Reply::Array(v) => v.iter().map(render).collect::<Vec<_>>().join("\n"),
            other => other.text().unwrap_or_else(|| format!("{:?}", other)),
        }
    }
    render(&conn.cmd(args))
}

#[test]
fn tls_replies_match_redis_and_client_certificates_are_checked() {
    let pki = make_pki();
    let (f, fport) = ferrokv(&pki, &[]);
    let (r, rport) = redis(&pki, &[]);

    // redis-cli --tls: PING, SET/GET, same output as redis-server.
    for port in [fport, rport] {
        assert_eq!(stdout(&cli(&pki, port, Cert::Good, &["PING"])), "PONG\n");
        assert_eq!(
            stdout(&cli(&pki, port, Cert::Good, &["SET", "k", "v"])),
            "OK\n"
        );
        assert_eq!(stdout(&cli(&pki, port, Cert::Good, &["GET", "k"])), "v\n");
    }

    // Raw bytes over TLS, RESP2 and RESP3, errors included, compared with redis-server.
    let script = "PING\r\nSET k hello\r\nGET k\r\nINCR k\r\nRPUSH l a b c\r\nLRANGE l 0 -1\r\n\
                  HSET h f v\r\nHELLO 3\r\nHGETALL h\r\nNOSUCHCMD\r\nQUIT\r\n";
    let (fb, _) = raw_tls(&pki, fport, script);
    let (rb, _) = raw_tls(&pki, rport, script);
    let shown = String::from_utf8_lossy(&fb).into_owned();
    assert!(
        shown.starts_with("+PONG\r\n+OK\r\n$5\r\nhello\r\n"),
        "{}",
        shown
    );
    assert!(shown.contains("%1\r\n$1\r\nf\r\n$1\r\nv\r\n"), "{}", shown);
    assert!(
        shown.ends_with("-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n+OK\r\n"),
        "{}",
        shown
    );
    // HELLO's map differs by design (server name, version, id); compare around it.
    let cut = |b: &[u8]| -> (String, String) {
        let s = String::from_utf8_lossy(b).into_owned();
        let start = s.find("%7\r\n").unwrap_or(s.len());
        let end = s[start..]
            .find("modules\r\n*0\r\n")
            .map_or(s.len(), |e| start + e + 13);
        (s[..start].to_string(), s[end..].to_string())
    };
    assert_eq!(
        cut(&fb),
        cut(&rb),
        "ferrokv:\n{}\nredis:\n{}",
        String::from_utf8_lossy(&fb),
        String::from_utf8_lossy(&rb)
    );

    // A required client certificate missing, or from an unknown CA: both servers end the
    // handshake and redis-cli gets no reply.
    for port in [fport, rport] {
        for cert in [Cert::None, Cert::OtherCa] {
            let o = cli(&pki, port, cert, &["PING"]);
            assert!(!stdout(&o).contains("PONG"), "port {}: {:?}", port, o);
        }
    }
    // The plain port serves the same data.
    let mut c = f.connect();
    assert_eq!(text(&mut c, &["GET", "k"]), "hello");
    // CLIENT LIST shows the TLS client like any other (laddr: the TLS port).
    let list = stdout(&cli(&pki, fport, Cert::Good, &["CLIENT", "LIST"]));
    assert!(
        list.contains(&format!("laddr=127.0.0.1:{} ", fport)),
        "{}",
        list
    );
    assert!(list.contains(" cmd=client|list "), "{}", list);
    drop(r);
}

#[test]
fn tls_auth_clients_optional_accepts_no_certificate() {
    let pki = make_pki();
    let (f, port) = ferrokv(&pki, &["--tls-auth-clients", "optional"]);
    assert_eq!(stdout(&cli(&pki, port, Cert::None, &["PING"])), "PONG\n");
    assert_eq!(stdout(&cli(&pki, port, Cert::Good, &["PING"])), "PONG\n");
    // A certificate that is presented must still be valid.
    let o = cli(&pki, port, Cert::OtherCa, &["PING"]);
    assert!(!stdout(&o).contains("PONG"), "{:?}", o);
    // `no`: no certificate asked for at all.
    let mut c = f.connect();
    assert_eq!(
        text(&mut c, &["CONFIG", "SET", "tls-auth-clients", "no"]),
        "OK"
    );
    assert_eq!(stdout(&cli(&pki, port, Cert::OtherCa, &["PING"])), "PONG\n");
}

#[test]
fn tls_config_set_reloads_certificates_and_keeps_the_old_on_error() {
    let pki = make_pki();
    let (f, port) = ferrokv(&pki, &[]);
    let (r, _) = redis(&pki, &[]);
    assert_eq!(served_cn(&pki, port), "ferrokv-server-one");
    let mut c = f.connect();
    let mut rc = r.connect();
    // A bad file: Redis's error, and the old certificate stays.
    for conn in [&mut c, &mut rc] {
        let reply = text(
            conn,
            &["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"],
        );
        assert_eq!(
            reply,
            "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs."
        );
        let reply = text(conn, &["CONFIG", "SET", "tls-protocols", "TLSv1.4"]);
        assert_eq!(
            reply,
            "ERR CONFIG SET failed (possibly related to argument 'tls-protocols') - Unable to update TLS configuration. Check server logs."
        );
        let reply = text(conn, &["CONFIG", "SET", "tls-auth-clients", "maybe"]);
        assert_eq!(
            reply,
            "ERR CONFIG SET failed (possibly related to argument 'tls-auth-clients') - argument(s) must be one of the following: no, yes, optional"
        );
        assert_eq!(
            text(conn, &["CONFIG", "GET", "tls-cert-file"]),
            format!("tls-cert-file\n{}", pki.path("server.crt"))
        );
    }
    assert_eq!(served_cn(&pki, port), "ferrokv-server-one");
    // A good pair: new connections get the new certificate.
    let reply = text(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &pki.path("server2.crt"),
            "tls-key-file",
            &pki.path("server2.key"),
        ],
    );
    assert_eq!(reply, "OK");
    assert_eq!(served_cn(&pki, port), "ferrokv-server-two");
    // A key that does not match the certificate is refused.
    let reply = text(
        &mut c,
        &["CONFIG", "SET", "tls-key-file", &pki.path("server.key")],
    );
    assert!(
        reply.contains("Unable to update TLS configuration"),
        "{}",
        reply
    );
    assert_eq!(served_cn(&pki, port), "ferrokv-server-two");
    // An encrypted key with tls-key-file-pass, on both servers; a wrong password fails.
    for conn in [&mut c, &mut rc] {
        let reply = text(
            conn,
            &[
                "CONFIG",
                "SET",
                "tls-cert-file",
                &pki.path("server2.crt"),
                "tls-key-file",
                &pki.path("server2-enc.key"),
                "tls-key-file-pass",
                "wrong",
            ],
        );
        assert!(
            reply.contains("Unable to update TLS configuration"),
            "{}",
            reply
        );
        let reply = text(
            conn,
            &[
                "CONFIG",
                "SET",
                "tls-cert-file",
                &pki.path("server2.crt"),
                "tls-key-file",
                &pki.path("server2-enc.key"),
                "tls-key-file-pass",
                "s3cret",
            ],
        );
        assert_eq!(reply, "OK");
    }
    assert_eq!(served_cn(&pki, port), "ferrokv-server-two");
    // tls-port moves the TLS listener; 0 closes it.
    let new_port = free_port();
    assert_eq!(
        text(
            &mut c,
            &["CONFIG", "SET", "tls-port", &new_port.to_string()]
        ),
        "OK"
    );
    assert_eq!(
        stdout(&cli(&pki, new_port, Cert::Good, &["PING"])),
        "PONG\n"
    );
    assert_eq!(text(&mut c, &["CONFIG", "SET", "tls-port", "0"]), "OK");
    assert!(!stdout(&cli(&pki, new_port, Cert::Good, &["PING"])).contains("PONG"));
}

/// Start-up refusals, with the lines redis-server logs for them.
#[test]
fn tls_start_up_errors_are_redis_lines() {
    let dir = TempDir::new("tls-startup");
    let run = |args: &[&str]| -> (bool, String) {
        let out = Command::new(common::ferrokv_bin())
            .args(args)
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run ferrokv");
        let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), log)
    };
    let (ok, log) = run(&["--port", "0"]);
    assert!(
        !ok && log.contains("Configured to not listen anywhere, exiting."),
        "{}",
        log
    );
    let port = free_port().to_string();
    let (ok, log) = run(&["--port", "0", "--tls-port", &port]);
    assert!(
        !ok && log.contains("No tls-cert-file configured!"),
        "{}",
        log
    );
    assert!(
        log.contains("Failed to configure TLS. Check logs for more info."),
        "{}",
        log
    );
    let pki = make_pki();
    let (cert, key) = (pki.path("server.crt"), pki.path("server.key"));
    let (ok, log) = run(&[
        "--port",
        "0",
        "--tls-port",
        &port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
    ]);
    assert!(
        !ok && log.contains("Either tls-ca-cert-file or tls-ca-cert-dir must be specified"),
        "{}",
        log
    );
    let (ok, log) = run(&[
        "--port",
        "0",
        "--tls-port",
        &port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-auth-clients",
        "no",
        "--tls-protocols",
        "TLSv1.5",
    ]);
    assert!(
        !ok && log.contains("Invalid tls-protocols specified."),
        "{}",
        log
    );
}

/// A blocking rustls client over TCP with the test's client certificate (rustls is one of
/// the crate's dependencies, so the test needs no other TLS client library).
fn rustls_client(
    pki: &Pki,
    port: u16,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    // ring, as the server uses (deprecated for lacking post-quantum key exchange).
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(pki.path("ca.crt")).expect("ca.crt") {
        roots.add(c.expect("ca cert")).expect("add root");
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.path("client.crt"))
        .expect("client.crt")
        .map(|c| c.expect("client cert"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path("client.key")).expect("client.key");
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .expect("client cert");
    let name = ServerName::try_from("localhost").expect("name");
    let conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client conn");
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, sock)
}

/// The output-buffer limits and backpressure hold over TLS too: a pipelining client that
/// reads late gets every reply intact (the writes go through the TLS session and are
/// flushed after partial writes), and a subscriber that does not read is closed at the
/// `pubsub` hard limit.
#[test]
fn tls_output_limits_and_backpressure() {
    use std::io::{Read, Write};
    let pki = make_pki();
    let (f, port) = ferrokv(&pki, &[]);
    let mut admin = f.connect();
    let value = "v".repeat(1 << 20);
    assert_eq!(text(&mut admin, &["SET", "big", &value]), "OK");

    // 24 GETs of 1 MB, sent at once; the replies (24 MB, past the 16 MB backpressure cap)
    // are read only after a pause.
    let mut c = rustls_client(&pki, port);
    let n = 24;
    let mut reqs = Vec::new();
    for _ in 0..n {
        reqs.extend(common::encode(&["GET", "big"]));
    }
    reqs.extend(common::encode(&["PING"]));
    c.write_all(&reqs).expect("send pipeline");
    c.flush().expect("flush");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let one = format!("$1048576\r\n{}\r\n", value);
    let mut expected = one.repeat(n).into_bytes();
    expected.extend_from_slice(b"+PONG\r\n");
    let mut got = vec![0u8; expected.len()];
    c.read_exact(&mut got).expect("read the replies");
    assert!(got == expected, "pipelined replies over TLS differ");

    // A subscriber over TLS that does not read is closed at the pubsub hard limit.
    assert_eq!(
        text(
            &mut admin,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 100000 0 0"
            ]
        ),
        "OK"
    );
    let mut sub = rustls_client(&pki, port);
    sub.write_all(&common::encode(&["SUBSCRIBE", "foo"]))
        .expect("subscribe");
    sub.flush().expect("flush");
    let mut confirm = [0u8; 16];
    sub.read_exact(&mut confirm).expect("subscribe reply");
    let payload = "y".repeat(1000);
    let mut publisher = f.connect();
    let mut closed = false;
    for _ in 0..5000 {
        let mut batch = Vec::new();
        for _ in 0..20 {
            batch.extend(common::encode(&["PUBLISH", "foo", &payload]));
        }
        publisher.send_raw(&batch).expect("publish");
        for _ in 0..20 {
            publisher.read_frame().expect("publish reply");
        }
        if text(&mut admin, &["PUBSUB", "NUMSUB", "foo"]) == "foo\n0" {
            closed = true;
            break;
        }
    }
    assert!(closed, "the TLS subscriber was never closed");
    assert!(
        f.log()
            .contains("scheduled to be closed ASAP for overcoming of output buffer limits"),
        "no close logged"
    );
}

/// A real redis-server replica with `tls-replication yes` syncs from ferrokv's TLS port:
/// the primary side of replication runs over the TLS stream (full sync, then the stream).
#[test]
fn tls_port_serves_a_redis_replica() {
    let pki = make_pki();
    let (f, tls_port) = ferrokv(&pki, &[]);
    let mut primary = f.connect();
    assert_eq!(text(&mut primary, &["SET", "before", "1"]), "OK");
    let primary_at = tls_port.to_string();
    let replica = start_server("redis", &redis_server_bin(), &|port| {
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--tls-replication",
            "yes",
            "--tls-cert-file",
            &pki.path("client.crt"),
            "--tls-key-file",
            &pki.path("client.key"),
            "--tls-ca-cert-file",
            &pki.path("ca.crt"),
            "--replicaof",
            "127.0.0.1",
            &primary_at,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    });
    let mut r = replica.connect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let link_up =
        |r: &mut Conn| text(r, &["INFO", "replication"]).contains("master_link_status:up");
    while !link_up(&mut r) {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica never synced over TLS: {}",
            replica.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(text(&mut r, &["GET", "before"]), "1");
    // Writes after the sync reach the replica through the TLS stream.
    assert_eq!(text(&mut primary, &["SET", "after", "2"]), "OK");
    while text(&mut r, &["GET", "after"]) != "2" {
        assert!(
            std::time::Instant::now() < deadline,
            "the write never reached the replica"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A peer that connects to the TLS port and sends nothing, or stops halfway through its
/// ClientHello, is closed once the handshake timeout (5 s) has passed instead of holding a
/// task forever; a client that completes its handshake meanwhile is served.
#[test]
fn tls_handshake_times_out() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let pki = make_pki();
    let (f, port) = ferrokv(&pki, &[]);
    let started = Instant::now();
    let silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut halfway = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // The first bytes of a TLS record header announcing a handshake, and no more.
    halfway.write_all(&[0x16, 0x03, 0x01, 0x02]).expect("send");
    // A real client is served while the two wait.
    assert_eq!(stdout(&cli(&pki, port, Cert::Good, &["PING"])), "PONG\n");
    for mut s in [silent, halfway] {
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "closed without a reply");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(12),
        "closed after {:?}",
        waited
    );
    // The connection is closed before its warning line is written, so the line may
    // land a moment after the read above returned.
    let log_deadline = Instant::now() + Duration::from_secs(5);
    while !f.log().contains("TLS handshake not completed") {
        assert!(Instant::now() < log_deadline, "the timeout is logged");
        std::thread::sleep(Duration::from_millis(20));
    }
}
