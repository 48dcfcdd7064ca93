use super::*;

fn add(s: &mut Stream, ms: u64, seq: u64, fields: &[&[u8]]) -> Result<StreamId, AddError> {
    s.append(
        AddId::Exact(StreamId::new(ms, seq)),
        fields,
        0,
        NodeLimits::default(),
    )
}

fn ids(s: &Stream, start: StreamId, end: StreamId, rev: bool) -> Vec<StreamId> {
    s.range(start, end, rev).map(|e| e.id).collect()
}

fn filled(n: u64, limits: NodeLimits) -> Stream {
    let mut s = Stream::new();
    for i in 1..=n {
        s.append(AddId::Exact(StreamId::new(i, 0)), &[b"f", b"v"], 0, limits)
            .unwrap();
    }
    s
}

#[test]
fn append_assigns_ids_like_redis() {
    let mut s = Stream::new();
    let lim = NodeLimits::default();
    assert_eq!(
        s.append(AddId::Auto, &[b"a", b"1"], 100, lim),
        Ok(StreamId::new(100, 0))
    );
    assert_eq!(
        s.append(AddId::Auto, &[b"a", b"1"], 50, lim),
        Ok(StreamId::new(100, 1))
    );
    assert_eq!(
        s.append(AddId::Ms(100), &[b"a", b"1"], 0, lim),
        Ok(StreamId::new(100, 2))
    );
    assert_eq!(
        s.append(AddId::Ms(99), &[b"a", b"1"], 0, lim),
        Err(AddError::IdTooSmall)
    );
    assert_eq!(
        s.append(AddId::Ms(200), &[b"a", b"1"], 0, lim),
        Ok(StreamId::new(200, 0))
    );
    assert_eq!(
        add(&mut s, 200, 0, &[b"a", b"1"]),
        Err(AddError::IdTooSmall)
    );
    assert_eq!(
        add(&mut s, u64::MAX, u64::MAX, &[b"a", b"1"]),
        Ok(StreamId::MAX)
    );
    assert_eq!(
        s.append(AddId::Auto, &[b"a", b"1"], 0, lim),
        Err(AddError::IdTooSmall)
    );
    assert_eq!(s.len(), 5);
    assert_eq!(s.entries_added, 5);
    assert_eq!(s.first_id, StreamId::new(100, 0));
    assert_eq!(s.last_id, StreamId::MAX);
}

#[test]
fn ms_star_overflow_fails() {
    let mut s = Stream::new();
    add(&mut s, 5, u64::MAX, &[b"a", b"1"]).unwrap();
    assert_eq!(
        s.append(AddId::Ms(5), &[b"a", b"1"], 0, NodeLimits::default()),
        Err(AddError::TooLarge)
    );
    assert_eq!(
        s.append(AddId::Auto, &[b"a", b"1"], 0, NodeLimits::default()),
        Ok(StreamId::new(6, 0))
    );
}

#[test]
fn range_forward_backward_and_fields() {
    let mut s = Stream::new();
    for i in 1..=250u64 {
        let v = i.to_string();
        let f: &[u8] = if i % 3 == 0 { b"other" } else { b"f" };
        add(&mut s, i, 0, &[f, v.as_bytes()]).unwrap();
    }
    assert_eq!(s.block_count(), 3);
    let all = ids(&s, StreamId::MIN, StreamId::MAX, false);
    assert_eq!(all.len(), 250);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let back = ids(&s, StreamId::new(95, 0), StreamId::new(105, 0), true);
    assert_eq!(back.first(), Some(&StreamId::new(105, 0)));
    assert_eq!(back.len(), 11);
    let e = s.get(StreamId::new(99, 0)).unwrap();
    assert_eq!(e.fields, vec![(&b"other"[..], &b"99"[..])]);
    let e = s.get(StreamId::new(100, 0)).unwrap();
    assert_eq!(e.fields, vec![(&b"f"[..], &b"100"[..])]);
    assert!(s.get(StreamId::new(100, 1)).is_none());
    assert!(ids(&s, StreamId::new(10, 0), StreamId::new(9, 0), false).is_empty());
}

#[test]
fn delete_updates_metadata_and_drops_empty_nodes() {
    let mut s = filled(150, NodeLimits::default());
    assert_eq!(s.block_count(), 2);
    assert_eq!(s.delete_ids(&[StreamId::new(1, 0), StreamId::new(1, 0)]), 1);
    assert_eq!(s.first_id, StreamId::new(2, 0));
    assert_eq!(s.max_deleted_entry_id, StreamId::new(1, 0));
    let rest: Vec<StreamId> = (2..=100).map(|i| StreamId::new(i, 0)).collect();
    assert_eq!(s.delete_ids(&rest), 99);
    assert_eq!(s.block_count(), 1);
    assert_eq!(s.len(), 50);
    assert_eq!(s.first_id, StreamId::new(101, 0));
    assert_eq!(s.delete_ids(&[StreamId::new(7, 0)]), 0);
    let all: Vec<StreamId> = (101..=150).map(|i| StreamId::new(i, 0)).collect();
    assert_eq!(s.delete_ids(&all), 50);
    assert_eq!(s.first_id, StreamId::MIN);
    assert_eq!(s.block_count(), 0);
    assert_eq!(s.last_id, StreamId::new(150, 0));
}

#[test]
fn trim_exact_and_approx() {
    let lim = NodeLimits::default();
    let mut s = filled(250, lim);
    let approx = TrimArgs {
        strategy: TrimStrategy::MaxLen(120),
        approx: true,
        limit: 10_000,
    };
    assert_eq!(s.trim(approx), 100);
    assert_eq!(s.len(), 150);
    assert_eq!(s.first_id, StreamId::new(101, 0));
    let exact = TrimArgs {
        strategy: TrimStrategy::MaxLen(120),
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(exact), 30);
    assert_eq!(s.first_id, StreamId::new(131, 0));
    let minid = TrimArgs {
        strategy: TrimStrategy::MinId(StreamId::new(205, 0)),
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(minid), 74);
    assert_eq!(s.first_id, StreamId::new(205, 0));
    assert_eq!(s.len(), 46);
    // LIMIT stops before a node that would exceed it.
    let mut s = filled(250, lim);
    let limited = TrimArgs {
        strategy: TrimStrategy::MaxLen(0),
        approx: true,
        limit: 150,
    };
    assert_eq!(s.trim(limited), 100);
    let all = TrimArgs {
        strategy: TrimStrategy::MaxLen(0),
        approx: false,
        limit: 0,
    };
    assert_eq!(s.trim(all), 150);
    assert_eq!(s.block_count(), 0);
    assert_eq!(s.first_id, StreamId::MIN);
}

#[test]
fn node_bytes_limit_starts_new_nodes() {
    let lim = NodeLimits {
        max_bytes: 100,
        max_entries: 0,
    };
    let mut s = Stream::new();
    for i in 1..=20u64 {
        s.append(
            AddId::Exact(StreamId::new(i, 0)),
            &[b"field", b"value-xyz"],
            0,
            lim,
        )
        .unwrap();
    }
    assert!(s.block_count() > 2);
    assert!(s.blocks().all(|(_, b)| b.lp_bytes() < 100 + 30));
    assert_eq!(ids(&s, StreamId::MIN, StreamId::MAX, true).len(), 20);
}

#[test]
fn lag_and_distance_helpers() {
    let mut s = filled(10, NodeLimits::default());
    assert!(s.create_group(b"g", StreamId::MIN, 0));
    assert!(!s.create_group(b"g", StreamId::MIN, 0));
    assert_eq!(s.group_lag(s.group(b"g").unwrap()), Some(10));
    assert!(s.advance_group(b"g", StreamId::new(1, 0)));
    assert_eq!(s.group(b"g").unwrap().entries_read, 1);
    assert_eq!(s.group_lag(s.group(b"g").unwrap()), Some(9));
    s.delete_ids(&[StreamId::new(5, 0)]);
    assert!(s.range_has_tombstones(Some(StreamId::new(1, 0)), None));
    assert_eq!(s.group_lag(s.group(b"g").unwrap()), None);
    assert_eq!(
        s.estimate_distance_from_first_ever_entry(StreamId::new(10, 0)),
        10
    );
    assert_eq!(
        s.estimate_distance_from_first_ever_entry(StreamId::new(11, 0)),
        SCG_INVALID_ENTRIES_READ
    );
    assert!(s.set_group_id(b"g", StreamId::new(10, 0), SCG_INVALID_ENTRIES_READ));
    assert_eq!(s.group_lag(s.group(b"g").unwrap()), Some(0));
    assert!(s.destroy_group(b"g"));
    assert!(s.group(b"g").is_none());
}

#[test]
fn memory_per_small_entry_is_small() {
    let s = filled(10_000, NodeLimits::default());
    let per_entry = s.heap_size() as f64 / 10_000.0;
    // Redis 7.0 spends ~13 bytes per entry of this shape in listpacks alone.
    assert!(per_entry < 12.0, "{per_entry} bytes per entry");
}

#[test]
fn rax_node_count_matches_redis() {
    // Redis 7.0.15 reports radix-tree-nodes 14 for these five nodes (two entries each).
    let lim = NodeLimits {
        max_bytes: 4096,
        max_entries: 2,
    };
    let mut s = Stream::new();
    for ms in [1u64, 2, 3, 4, 5, 300, 301, 70000, 70001, 70002] {
        s.append(AddId::Exact(StreamId::new(ms, 0)), &[b"f", b"v"], 0, lim)
            .unwrap();
    }
    assert_eq!(s.block_count(), 5);
    assert_eq!(s.rax_nodes(), 14);
    assert_eq!(Stream::new().rax_nodes(), 1);
    let one = filled(5, NodeLimits::default());
    assert_eq!(one.rax_nodes(), 2);
}
