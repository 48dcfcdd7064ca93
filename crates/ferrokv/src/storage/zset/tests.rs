//! Unit tests of the sorted set value: encodings, conversions, ranges.

use super::*;

const LIMITS: ZSetLimits = ZSetLimits {
    max_entries: 4,
    max_value: 8,
};

fn members(z: &ZSetValue) -> Vec<String> {
    let mut v = Vec::new();
    z.for_each(|m, _| v.push(String::from_utf8_lossy(m).into_owned()));
    v
}

fn both(entries: &[(&str, f64)]) -> [ZSetValue; 2] {
    let mut small = ZSetValue::new();
    let mut large = ZSetValue::new_large();
    let big = ZSetLimits {
        max_entries: 1000,
        max_value: 1000,
    };
    for (m, s) in entries {
        small.insert(m.as_bytes(), *s, big);
        large.insert(m.as_bytes(), *s, big);
    }
    assert_eq!(small.encoding(), "listpack");
    assert_eq!(large.encoding(), "skiplist");
    [small, large]
}

#[test]
fn value_is_small() {
    assert!(std::mem::size_of::<ZSetValue>() <= 40);
}

#[test]
fn converts_past_the_entry_limit() {
    let mut z = ZSetValue::new();
    for (i, m) in ["a", "b", "c", "d"].iter().enumerate() {
        assert!(z.insert(m.as_bytes(), i as f64, LIMITS));
    }
    assert_eq!(z.encoding(), "listpack");
    // Updating an existing member never converts.
    assert!(!z.insert(b"a", 10.0, LIMITS));
    assert_eq!(z.encoding(), "listpack");
    assert!(z.insert(b"e", 0.5, LIMITS));
    assert_eq!(z.encoding(), "skiplist");
    assert_eq!(members(&z), ["e", "b", "c", "d", "a"]);
    // Never converts back on removal.
    z.remove(b"a");
    z.remove(b"b");
    assert_eq!(z.encoding(), "skiplist");
    assert_eq!(z.len(), 3);
}

#[test]
fn converts_on_a_long_member() {
    let mut z = ZSetValue::new();
    z.insert(b"12345678", 1.0, LIMITS);
    assert_eq!(z.encoding(), "listpack");
    z.insert(b"123456789", 1.0, LIMITS);
    assert_eq!(z.encoding(), "skiplist");
    assert_eq!(ZSetValue::for_new_key(9, LIMITS).encoding(), "skiplist");
    assert_eq!(ZSetValue::for_new_key(8, LIMITS).encoding(), "listpack");
    let off = ZSetLimits {
        max_entries: 0,
        max_value: 64,
    };
    assert_eq!(ZSetValue::for_new_key(1, off).encoding(), "skiplist");
    assert_eq!(
        ZSetValue::for_length_hint(Some(5), LIMITS).encoding(),
        "skiplist"
    );
    assert_eq!(
        ZSetValue::for_length_hint(Some(4), LIMITS).encoding(),
        "listpack"
    );
    assert_eq!(
        ZSetValue::for_length_hint(None, LIMITS).encoding(),
        "listpack"
    );
}

#[test]
fn negative_zero_only_survives_in_the_large_encoding() {
    let [small, large] = both(&[("a", -0.0)]);
    assert!(small.score(b"a").unwrap().is_sign_positive());
    assert!(large.score(b"a").unwrap().is_sign_negative());
    let sorted = vec![(b"a".to_vec(), -0.0)];
    let z = ZSetValue::from_sorted(sorted, LIMITS);
    assert_eq!(z.encoding(), "listpack");
    assert!(z.score(b"a").unwrap().is_sign_positive());
}

#[test]
fn from_sorted_picks_the_encoding() {
    let entries = |n: usize, len: usize| -> Vec<(Vec<u8>, f64)> {
        (0..n)
            .map(|i| (vec![b'a' + i as u8; len], i as f64))
            .collect()
    };
    assert_eq!(
        ZSetValue::from_sorted(entries(4, 8), LIMITS).encoding(),
        "listpack"
    );
    assert_eq!(
        ZSetValue::from_sorted(entries(5, 1), LIMITS).encoding(),
        "skiplist"
    );
    let z = ZSetValue::from_sorted(entries(3, 9), LIMITS);
    assert_eq!(z.encoding(), "skiplist");
    assert_eq!(z.len(), 3);
    assert_eq!(z.rank(&[b'c'; 9]), Some(2));
}

#[test]
fn ranks_pops_and_ranges_agree_between_encodings() {
    let data = [
        ("x", f64::NEG_INFINITY),
        ("b", 1.0),
        ("a", 1.0),
        ("c", 2.5),
        ("d", 3.0),
        ("e", f64::INFINITY),
    ];
    for mut z in both(&data) {
        assert_eq!(members(&z), ["x", "a", "b", "c", "d", "e"]);
        assert_eq!(z.rank(b"c"), Some(3));
        assert_eq!(z.get(1), Some((&b"a"[..], 1.0)));
        let r = |min, max, minex, maxex| ScoreRange {
            min,
            max,
            minex,
            maxex,
        };
        assert_eq!(z.score_range(&r(1.0, 2.5, false, false)), (1, 4));
        assert_eq!(z.score_range(&r(1.0, 2.5, true, true)), (0, 0));
        assert_eq!(z.score_range(&r(1.0, 2.5, true, false)), (3, 4));
        assert_eq!(
            z.score_range(&r(f64::NEG_INFINITY, f64::INFINITY, false, false)),
            (0, 6)
        );
        assert_eq!(z.score_range(&r(5.0, 1.0, false, false)), (0, 0));
        let mut rev = Vec::new();
        z.for_range(1, 4, true, &mut |m, _| rev.push(m.to_vec()));
        assert_eq!(rev, [b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
        assert_eq!(z.pop(true), Some((b"e".to_vec(), f64::INFINITY)));
        assert_eq!(z.pop(false), Some((b"x".to_vec(), f64::NEG_INFINITY)));
        assert_eq!(z.remove_range(1, 3), 2);
        assert_eq!(members(&z), ["a", "d"]);
    }
}

#[test]
fn lex_ranges() {
    let lex = |min: LexBound, minex, max: LexBound, maxex| LexRange {
        min,
        max,
        minex,
        maxex,
    };
    let v = |s: &str| LexBound::Value(s.as_bytes().to_vec());
    let data = [("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0)];
    for z in both(&data) {
        let all = lex(LexBound::Min, true, LexBound::Max, true);
        assert_eq!(z.lex_range(&all, false), (0, 4));
        assert_eq!(z.lex_range(&all, true), (0, 4));
        assert_eq!(
            z.lex_range(&lex(v("b"), false, v("c"), false), false),
            (1, 3)
        );
        assert_eq!(
            z.lex_range(&lex(v("b"), true, v("c"), false), false),
            (2, 3)
        );
        assert_eq!(z.lex_range(&lex(v("b"), true, v("c"), true), false), (0, 0));
        assert_eq!(
            z.lex_range(&lex(LexBound::Max, true, LexBound::Min, true), false),
            (0, 0)
        );
        assert_eq!(
            z.lex_range(&lex(LexBound::Min, true, LexBound::Min, true), false),
            (0, 0)
        );
        assert_eq!(
            z.lex_range(&lex(v("bb"), false, LexBound::Max, true), true),
            (2, 4)
        );
    }
    // Mixed scores in a listpack: Redis's linear walk, which differs by direction.
    let [small, _] = both(&[("b", 1.0), ("a", 2.0), ("c", 3.0)]);
    let r = lex(v("b"), false, v("b"), false);
    assert_eq!(small.lex_range(&r, false), (0, 2));
    assert_eq!(small.lex_range(&r, true), (0, 0));
    let r = lex(v("a"), false, v("c"), false);
    assert_eq!(small.lex_range(&r, false), (0, 3));
}

#[test]
fn scan_and_random() {
    let [small, large] = both(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]);
    let mut seen = Vec::new();
    assert_eq!(small.scan(0, 1, &mut |m, _| seen.push(m.to_vec())), 0);
    assert_eq!(seen.len(), 3);
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        cursor = large.scan(cursor, 2, &mut |m, _| seen.push(m.to_vec()));
        if cursor == 0 {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    let mut rng = rand::thread_rng();
    for z in [&small, &large] {
        for _ in 0..20 {
            let (m, s) = z.random(&mut rng).unwrap();
            assert_eq!(z.score(m), Some(s));
        }
    }
    assert!(ZSetValue::new().random(&mut rng).is_none());
    assert!(large.heap_size() > small.heap_size());
}

#[test]
fn random_operations_against_a_model_in_both_encodings() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let scores = [
        0.0,
        1.0,
        2.0,
        3.0,
        -1.0,
        2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e20,
    ];
    for limits in [
        ZSetLimits {
            max_entries: 1000,
            max_value: 1000,
        },
        ZSetLimits {
            max_entries: 16,
            max_value: 6,
        },
    ] {
        let mut z = ZSetValue::new();
        let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
        for step in 0..4000 {
            let m = format!("m{}", rng.gen_range(0..40)).into_bytes();
            let m = if rng.gen_bool(0.05) {
                [&m[..], b"-long"].concat()
            } else {
                m
            };
            match rng.gen_range(0..10) {
                0..=5 => {
                    let s = scores[rng.gen_range(0..scores.len())];
                    let added = z.insert(&m, s, limits);
                    let found = model.iter().position(|(x, _)| *x == m);
                    assert_eq!(added, found.is_none());
                    match found {
                        Some(i) => model[i].1 = s,
                        None => model.push((m, s)),
                    }
                }
                6..=7 => {
                    let found = model.iter().position(|(x, _)| *x == m);
                    assert_eq!(z.remove(&m), found.is_some());
                    if let Some(i) = found {
                        model.remove(i);
                    }
                }
                8 => {
                    let lo = rng.gen_range(0..model.len() + 1);
                    let hi = (lo + rng.gen_range(0..5)).min(model.len());
                    model.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
                    assert_eq!(z.remove_range(lo, hi), hi - lo);
                    model.drain(lo..hi);
                }
                _ => {
                    let max = rng.gen_bool(0.5);
                    model.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
                    let want = if max {
                        model.pop()
                    } else if model.is_empty() {
                        None
                    } else {
                        Some(model.remove(0))
                    };
                    assert_eq!(z.pop(max), want);
                }
            }
            model.sort_by(|a, b| cmp_entries(a.1, &a.0, b.1, &b.0));
            let got: Vec<(Vec<u8>, f64)> =
                z.entries().iter().map(|(m, s)| (m.to_vec(), *s)).collect();
            assert_eq!(got, model, "step {}", step);
            if step % 50 == 0 {
                let mut rev = Vec::new();
                z.for_range(0, z.len(), true, &mut |m, s| rev.push((m.to_vec(), s)));
                rev.reverse();
                assert_eq!(rev, model);
                for (rank, (m, s)) in model.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(rank));
                    assert_eq!(z.score(m), Some(*s));
                }
            }
        }
    }
}
