//! OBJECT IDLETIME tracks accesses as Redis does: reads and writes touch a key, OBJECT and
//! CLIENT NO-TOUCH clients do not, TOUCH always does.

mod common;

use std::time::Duration;

use common::start_ferrokv;

#[test]
fn idle_time_follows_accesses() {
    let server = start_ferrokv(2);
    let mut c = server.connect();
    c.cmd(&["SET", "k", "v"]).expect_text();
    std::thread::sleep(Duration::from_millis(2300));
    let idle = c.cmd(&["OBJECT", "IDLETIME", "k"]).expect_int();
    assert!((2..=3).contains(&idle), "idle after 2.3 s: {}", idle);
    // OBJECT itself does not count as an access.
    let again = c.cmd(&["OBJECT", "IDLETIME", "k"]).expect_int();
    assert!(again >= 2, "OBJECT touched the key: {}", again);

    // A NO-TOUCH client reads without touching...
    c.cmd(&["CLIENT", "NO-TOUCH", "ON"]).expect_text();
    c.cmd(&["GET", "k"]);
    assert!(c.cmd(&["OBJECT", "IDLETIME", "k"]).expect_int() >= 2);
    // ...but TOUCH always touches.
    assert_eq!(c.cmd(&["TOUCH", "k"]).expect_int(), 1);
    assert!(c.cmd(&["OBJECT", "IDLETIME", "k"]).expect_int() <= 1);

    // A normal read touches.
    c.cmd(&["CLIENT", "NO-TOUCH", "OFF"]).expect_text();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(c.cmd(&["OBJECT", "IDLETIME", "k"]).expect_int() >= 1);
    c.cmd(&["GET", "k"]);
    assert!(c.cmd(&["OBJECT", "IDLETIME", "k"]).expect_int() <= 1);
}
