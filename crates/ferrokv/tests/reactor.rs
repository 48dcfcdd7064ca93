//! The worker event loop (`server::reactor`) and its hand-over to the async path, over
//! real TCP. A connection starts in the event loop and moves to the async path when it
//! blocks, runs a script, meets CLIENT PAUSE or has replies the socket does not take at
//! once; these tests put those moments in the middle of a pipeline (all requests in one
//! write) and check that nothing of the connection's state, its buffered requests or its
//! pending replies is lost or reordered: each transcript must equal real redis-server's,
//! and the replies must be what the commands say. Wake-ups from other threads (Pub/Sub,
//! CLIENT KILL, MONITOR) reaching a connection idle in the event loop are checked too.

mod common;

use std::time::{Duration, Instant};

use common::{encode, escape, start_ferrokv, start_redis, Conn, ServerGuard};

/// Send `requests` in one write and read one reply per request (exact bytes).
fn pipeline(conn: &mut Conn, requests: &[&[&str]]) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    for r in requests {
        bytes.extend_from_slice(&encode(r));
    }
    conn.send_raw(&bytes).expect("send");
    requests
        .iter()
        .map(|r| {
            conn.read_frame()
                .unwrap_or_else(|e| panic!("reply to {:?}: {}", r, e))
        })
        .collect()
}

/// The same pipeline against ferrokv and redis-server: the transcripts must be equal.
fn same_on_both(requests: &[&[&str]], setup: &dyn Fn(&ServerGuard)) -> Vec<Vec<u8>> {
    let ferrokv = start_ferrokv(1);
    let redis = start_redis();
    setup(&ferrokv);
    setup(&redis);
    let ours = pipeline(&mut ferrokv.connect(), requests);
    let theirs = pipeline(&mut redis.connect(), requests);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            escape(a),
            escape(b),
            "reply {} to {:?} differs (ferrokv, redis)",
            i,
            requests.get(i)
        );
    }
    ours
}

#[test]
fn state_and_buffered_requests_survive_a_blocking_hand_over() {
    let replies = same_on_both(
        &[
            &["CLIENT", "SETNAME", "worker"],
            &["SELECT", "2"],
            &["SET", "k", "v"],
            &["MULTI"],
            &["INCR", "n"],
            &["EXEC"],
            // Times out after 100 ms: the connection waits on the async path.
            &["BLPOP", "nolist", "0.1"],
            &["GET", "k"],
            &["CLIENT", "GETNAME"],
            &["GET", "n"],
            &["PING"],
        ],
        &|_| {},
    );
    assert_eq!(replies[6], b"*-1\r\n");
    assert_eq!(
        replies[7], b"$1\r\nv\r\n",
        "SELECT 2 was lost in the hand-over"
    );
    assert_eq!(replies[8], b"$6\r\nworker\r\n");
    assert_eq!(replies[9], b"$1\r\n1\r\n");
    assert_eq!(replies[10], b"+PONG\r\n");
}

#[test]
fn a_script_in_the_middle_of_a_pipeline_keeps_the_order() {
    let script = "redis.call('incr', KEYS[1]); return redis.call('get', KEYS[1])";
    let replies = same_on_both(
        &[
            &["SET", "c", "10"],
            &["EVAL", script, "1", "c"],
            &["INCR", "c"],
            &["EVAL", script, "1", "c"],
            &["GET", "c"],
        ],
        &|_| {},
    );
    assert_eq!(replies[1], b"$2\r\n11\r\n");
    assert_eq!(replies[2], b":12\r\n");
    assert_eq!(replies[3], b"$2\r\n13\r\n");
    assert_eq!(replies[4], b"$2\r\n13\r\n");
}

#[test]
fn a_served_blocking_pop_is_followed_by_the_rest_of_the_pipeline() {
    let server = start_ferrokv(1);
    let mut consumer = server.connect();
    consumer
        .send_raw(
            &[
                encode(&["BLPOP", "jobs", "5"]),
                encode(&["SET", "after", "1"]),
                encode(&["GET", "after"]),
            ]
            .concat(),
        )
        .expect("send");
    wait_until(&server, |c| {
        info_field(c, "clients", "blocked_clients") == Some("1".into())
    });
    let mut producer = server.connect();
    assert_eq!(
        producer.request(&["RPUSH", "jobs", "j1"]).expect("RPUSH"),
        b":1\r\n"
    );
    // Served inside RPUSH, as in Redis: no longer counted as blocked once RPUSH replied,
    // whenever the consumer's connection gets to run.
    assert_eq!(
        info_field(&mut producer, "clients", "blocked_clients").as_deref(),
        Some("0")
    );
    assert_eq!(
        consumer.read_frame().expect("BLPOP"),
        b"*2\r\n$4\r\njobs\r\n$2\r\nj1\r\n"
    );
    assert_eq!(consumer.read_frame().expect("SET"), b"+OK\r\n");
    assert_eq!(consumer.read_frame().expect("GET"), b"$1\r\n1\r\n");
    // The connection goes on serving after the hand-over.
    assert_eq!(consumer.request(&["PING"]).expect("PING"), b"+PONG\r\n");
}

#[test]
fn a_reply_bigger_than_the_socket_takes_arrives_whole_and_in_order() {
    let server = start_ferrokv(1);
    let mut c = server.connect();
    let value = "x".repeat(8 << 20);
    assert_eq!(c.request(&["SET", "big", &value]).expect("SET"), b"+OK\r\n");
    // Ask for it three times before reading anything: the socket's buffers fill, the
    // connection moves to the async path with replies pending.
    let replies = pipeline(
        &mut c,
        &[
            &["GET", "big"],
            &["STRLEN", "big"],
            &["GET", "big"],
            &["PING"],
        ],
    );
    let expected = [
        format!("${}\r\n", value.len()).as_bytes(),
        value.as_bytes(),
        b"\r\n",
    ]
    .concat();
    assert!(replies[0] == expected, "first GET reply differs");
    assert_eq!(replies[1], format!(":{}\r\n", value.len()).as_bytes());
    assert!(replies[2] == expected, "second GET reply differs");
    assert_eq!(replies[3], b"+PONG\r\n");
}

#[test]
fn a_request_arriving_in_pieces_runs_once_complete() {
    let server = start_ferrokv(1);
    let mut c = server.connect();
    let value = "y".repeat(300_000);
    let bytes = encode(&["SET", "piecewise", &value]);
    for piece in bytes.chunks(7_000) {
        c.send_raw(piece).expect("send");
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(c.read_frame().expect("SET"), b"+OK\r\n");
    assert_eq!(
        c.request(&["STRLEN", "piecewise"]).expect("STRLEN"),
        b":300000\r\n"
    );
}

#[test]
fn messages_reach_an_idle_subscriber_and_kill_closes_an_idle_connection() {
    let server = start_ferrokv(2);
    let mut sub = server.connect();
    assert!(sub
        .request(&["SUBSCRIBE", "news"])
        .expect("SUBSCRIBE")
        .starts_with(b"*3\r\n$9\r\nsubscribe\r\n"));
    let mut publisher = server.connect();
    for i in 0..3 {
        let msg = format!("m{}", i);
        assert_eq!(
            publisher
                .request(&["PUBLISH", "news", &msg])
                .expect("PUBLISH"),
            b":1\r\n"
        );
        assert_eq!(
            sub.read_frame().expect("message"),
            format!("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\n{}\r\n", msg).as_bytes()
        );
    }
    let mut monitor = server.connect();
    assert_eq!(monitor.request(&["MONITOR"]).expect("MONITOR"), b"+OK\r\n");
    assert_eq!(
        publisher.request(&["ECHO", "seen"]).expect("ECHO"),
        b"$4\r\nseen\r\n"
    );
    let line = monitor.read_frame().expect("MONITOR line");
    assert!(
        String::from_utf8_lossy(&line).contains("\"ECHO\" \"seen\""),
        "MONITOR line: {}",
        escape(&line)
    );
    let mut idle = server.connect();
    assert_eq!(
        idle.request(&["CLIENT", "SETNAME", "idle"])
            .expect("SETNAME"),
        b"+OK\r\n"
    );
    assert_eq!(
        publisher
            .request(&["CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal"])
            .expect("KILL")
            .first(),
        Some(&b':')
    );
    let (_, closed) = idle.read_until_close(Duration::from_secs(5));
    assert!(closed, "a killed idle connection must be closed");
}

#[test]
fn a_paused_request_waits_and_the_pipeline_goes_on() {
    let server = start_ferrokv(1);
    let mut admin = server.connect();
    assert_eq!(
        admin
            .request(&["CLIENT", "PAUSE", "300", "WRITE"])
            .expect("PAUSE"),
        b"+OK\r\n"
    );
    let started = Instant::now();
    let replies = pipeline(
        &mut server.connect(),
        &[&["GET", "p"], &["SET", "p", "1"], &["GET", "p"]],
    );
    assert_eq!(replies[0], b"$-1\r\n");
    assert_eq!(replies[1], b"+OK\r\n");
    assert_eq!(replies[2], b"$1\r\n1\r\n");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "the SET ran during CLIENT PAUSE WRITE"
    );
}

#[test]
fn a_protocol_error_is_answered_then_the_connection_closes() {
    let server = start_ferrokv(1);
    let redis = start_redis();
    let bad = b"*1\r\n$4\r\nPING\r\n*x\r\n";
    let mut transcripts = Vec::new();
    for s in [&server, &redis] {
        let mut c = s.connect();
        c.send_raw(bad).expect("send");
        transcripts.push(c.read_until_close(Duration::from_secs(5)));
    }
    assert_eq!(
        escape(&transcripts[0].0),
        escape(&transcripts[1].0),
        "ferrokv, redis"
    );
    assert!(transcripts[0].1, "the connection must close");
}

#[test]
fn a_client_that_keeps_its_socket_full_does_not_starve_the_others() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // One worker thread: the flooding client and the other one share its event loop.
    let server = start_ferrokv(1);
    let flood = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = flood.try_clone().expect("clone");
    let stop_w = stop.clone();
    let sender = std::thread::spawn(move || {
        // No replies (CLIENT REPLY OFF): the flood never waits for its own output, so it
        // stays in the event loop rather than moving to the async path.
        if writer
            .write_all(&encode(&["CLIENT", "REPLY", "OFF"]))
            .is_err()
        {
            return;
        }
        let chunk = encode(&["PING"]).repeat(4096);
        while !stop_w.load(Ordering::Relaxed) {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let mut reader = flood;
    let stop_r = stop.clone();
    let drainer = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let _ = reader.set_read_timeout(Some(Duration::from_millis(200)));
        while !stop_r.load(Ordering::Relaxed) {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
    });
    // Let the flood fill the socket, then ask for something on another connection.
    std::thread::sleep(Duration::from_millis(300));
    let mut other = server.connect();
    other.timeout = Duration::from_secs(10);
    let started = Instant::now();
    let reply = other.request(&["PING"]);
    let waited = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    let _ = drainer.join();
    assert_eq!(
        reply.expect("PING while another client floods"),
        b"+PONG\r\n"
    );
    assert!(
        waited < Duration::from_secs(5),
        "the other client waited {:?} behind the flood",
        waited
    );
}

/// An INFO field of `section`.
fn info_field(c: &mut Conn, section: &str, field: &str) -> Option<String> {
    let info = c.request(&["INFO", section]).ok()?;
    String::from_utf8_lossy(&info).lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

/// Poll until `done` holds (5 s at most).
fn wait_until(server: &ServerGuard, done: impl Fn(&mut Conn) -> bool) {
    let mut c = server.connect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(&mut c) {
        assert!(Instant::now() < deadline, "condition not reached in 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}
