//! Geo commands against the real redis-server:
//!
//! * the course's meteorite records (`shared/data/Meteorite_Landings.json`) loaded into a geo
//!   index on both servers, then GEOSEARCH/GEORADIUS around every record and around fixed
//!   points, by radius and by box, in every unit and order, compared byte for byte;
//! * a seeded synthetic index of thousands of points (dense clusters, duplicates, points at
//!   the latitude limits and the antimeridian) searched with many shapes and COUNT values;
//! * seeded random command sequences over a few keys with `DEBUG DIGEST` after every step.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::diff::{
    parse_case_text, report, run_random_sequences, run_steps, Pair, Placeholder, Rng,
    BASE_PLACEHOLDERS,
};

/// (id, name, longitude, latitude) of every record that has both coordinates.
fn meteorites() -> Vec<(String, String, String, String)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/Meteorite_Landings.json");
    let alt = Path::new("/work/shared/data/Meteorite_Landings.json");
    let text = std::fs::read_to_string(&path)
        .or_else(|_| std::fs::read_to_string(alt))
        .expect("Meteorite_Landings.json");
    // The file has one `"field": "value"` per line; records are the `{ ... }` blocks.
    let mut out = Vec::new();
    let mut rec: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim().trim_end_matches(',');
        if t.starts_with('}') {
            let get = |k: &str| rec.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if let (Some(id), Some(name), Some(lat), Some(lon)) =
                (get("id"), get("name"), get("reclat"), get("reclong"))
            {
                out.push((id, name, lon, lat));
            }
            rec.clear();
        } else if let Some((k, v)) = t.split_once("\": ") {
            rec.push((
                k.trim_start_matches('"').to_string(),
                v.trim_matches('"').to_string(),
            ));
        }
    }
    out
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Run `lines` (case-file form) on both servers in both protocols; panic with every
/// mismatch.
fn compare(title: &str, lines: &[String]) {
    let text = lines.join("\n");
    let (steps, errors) = parse_case_text(text.as_bytes());
    assert!(errors.is_empty(), "bad lines: {errors:?}");
    let mut pair = Pair::start();
    let mut mismatches = Vec::new();
    for resp3 in [false, true] {
        run_steps(&mut pair, title, &steps, resp3, &mut mismatches);
    }
    assert!(mismatches.is_empty(), "{}", report(title, &mismatches));
}

const SHAPES: &[&str] = &[
    "BYRADIUS 100 km",
    "BYRADIUS 1000 km",
    "BYRADIUS 5000 km",
    "BYRADIUS 20000 km",
    "BYRADIUS 3000 mi",
    "BYRADIUS 1000000 ft",
    "BYBOX 2000 1000 km",
    "BYBOX 10000 10000 km",
    "BYBOX 400 4000 mi",
];

const OPTIONS: &[&str] = &[
    "ASC WITHDIST",
    "DESC WITHCOORD WITHHASH",
    "ASC COUNT 3 WITHDIST",
    "DESC COUNT 5",
    "COUNT 4 ANY",
    "",
];

#[test]
fn meteorite_searches_match_redis() {
    let records = meteorites();
    assert!(records.len() >= 10, "only {} records", records.len());
    let mut lines = Vec::new();
    for (id, name, lon, lat) in &records {
        lines.push(format!(
            "GEOADD meteorites {lon} {lat} {}",
            quote(&format!("{name}:{id}"))
        ));
    }
    lines.push("ZRANGE meteorites 0 -1 WITHSCORES".into());
    lines.push("ZCARD meteorites".into());
    for (id, name, _, _) in &records {
        let member = quote(&format!("{name}:{id}"));
        lines.push(format!("GEOPOS meteorites {member}"));
        lines.push(format!("GEOHASH meteorites {member}"));
        for (i, shape) in SHAPES.iter().enumerate() {
            let opts = OPTIONS[i % OPTIONS.len()];
            lines.push(format!(
                "GEOSEARCH meteorites FROMMEMBER {member} {shape} {opts}"
            ));
        }
        lines.push(format!(
            "GEORADIUSBYMEMBER meteorites {member} 2500 km ASC WITHDIST"
        ));
    }
    let centres = [
        "0 0",
        "10 50",
        "-100 30",
        "179.9 -40",
        "-180 85.05112878",
        "35 -85",
    ];
    for c in centres {
        for shape in SHAPES {
            for opts in OPTIONS {
                lines.push(format!(
                    "GEOSEARCH meteorites FROMLONLAT {c} {shape} {opts}"
                ));
            }
        }
        lines.push(format!(
            "GEORADIUS meteorites {c} 3000 km WITHDIST WITHCOORD ASC"
        ));
        lines.push(format!(
            "GEOSEARCHSTORE near meteorites FROMLONLAT {c} BYRADIUS 4000 km STOREDIST"
        ));
        lines.push("ZRANGE near 0 -1 WITHSCORES".into());
    }
    let (_, a, _, _) = &records[0];
    let (_, b, _, _) = &records[1];
    for unit in ["m", "km", "mi", "ft"] {
        lines.push(format!(
            "GEODIST meteorites {} {} {unit}",
            quote(&format!("{a}:{}", records[0].0)),
            quote(&format!("{b}:{}", records[1].0))
        ));
    }
    compare("meteorites", &lines);
}

/// A pseudo-random coordinate in `min..max` with up to 6 decimals.
fn coord(rng: &mut Rng, min: f64, max: f64) -> String {
    let unit = (rng.next() % 1_000_000_001) as f64 / 1e9;
    format!("{:.6}", min + unit * (max - min))
}

#[test]
fn synthetic_index_searches_match_redis() {
    let mut rng = Rng(0x6e0_5ea);
    let mut lines = Vec::new();
    let mut add = String::from("GEOADD pts");
    for i in 0..4000 {
        let (lon, lat) = match i % 5 {
            // A dense cluster around Rome.
            0 => (coord(&mut rng, 12.0, 13.0), coord(&mut rng, 41.5, 42.5)),
            // Close to the antimeridian.
            1 => (coord(&mut rng, 179.0, 180.0), coord(&mut rng, -10.0, 10.0)),
            // Near the latitude limits.
            2 => (
                coord(&mut rng, -180.0, 180.0),
                coord(&mut rng, 80.0, 85.05112878),
            ),
            // Duplicated positions.
            3 => ("7.5".to_string(), "-33.25".to_string()),
            _ => (
                coord(&mut rng, -180.0, 180.0),
                coord(&mut rng, -85.05112878, 85.05112878),
            ),
        };
        let _ = write!(add, " {lon} {lat} p{i}");
        if i % 500 == 499 {
            lines.push(std::mem::replace(&mut add, String::from("GEOADD pts")));
        }
    }
    lines.push("DEBUG DIGEST-VALUE pts".into());
    let centres = [
        "12.5 42",
        "179.99 0",
        "-179.99 0",
        "0 85",
        "0 -85",
        "7.5 -33.25",
        "100 0",
        "-45.5 60.1",
    ];
    let shapes = [
        "BYRADIUS 1 km",
        "BYRADIUS 25 km",
        "BYRADIUS 300 km",
        "BYRADIUS 2500 km",
        "BYBOX 50 50 km",
        "BYBOX 1000 200 km",
        "BYBOX 300 3000 km",
    ];
    let opts = [
        "ASC COUNT 10 WITHDIST",
        "DESC COUNT 25 WITHHASH",
        "COUNT 7 ANY",
        "COUNT 7 ANY ASC",
        "ASC COUNT 50",
    ];
    for c in centres {
        for s in shapes {
            for o in opts {
                lines.push(format!("GEOSEARCH pts FROMLONLAT {c} {s} {o}"));
            }
            lines.push(format!(
                "GEOSEARCHSTORE out pts FROMLONLAT {c} {s} COUNT 20 STOREDIST"
            ));
            lines.push("ZRANGE out 0 -1 WITHSCORES".into());
            lines.push(format!("!unordered GEOSEARCH pts FROMLONLAT {c} {s}"));
        }
    }
    for m in ["p0", "p1", "p2", "p3", "p4", "p1234"] {
        lines.push(format!(
            "GEORADIUSBYMEMBER pts {m} 200 km ASC COUNT 30 WITHDIST WITHCOORD"
        ));
        lines.push(format!("GEORADIUSBYMEMBER pts {m} 200 km DESC COUNT 5"));
    }
    compare("synthetic", &lines);
}

const TEMPLATES: &[&str] = &[
    "GEOADD {key} {lon} {lat} {member}",
    "GEOADD {key} {lon} {lat} {member} {lon} {lat} {member} {lon} {lat} {member}",
    "GEOADD {key} {flag} {lon} {lat} {member}",
    "GEOADD {key} {flag} CH {lon} {lat} {member} {lon} {lat} {member}",
    "GEOPOS {key} {member} {member}",
    "GEOHASH {key} {member} {member}",
    "GEODIST {key} {member} {member} {unit}",
    "GEOSEARCH {key} FROMMEMBER {member} BYRADIUS {radius} {unit} {order}",
    "GEOSEARCH {key} FROMLONLAT {lon} {lat} BYBOX {radius} {radius} {unit} {order} WITHDIST",
    "GEOSEARCH {key} FROMLONLAT {lon} {lat} BYRADIUS {radius} {unit} COUNT {count} {order}",
    "GEOSEARCHSTORE {key} {key} FROMLONLAT {lon} {lat} BYRADIUS {radius} {unit} STOREDIST",
    "GEOSEARCHSTORE {key} {key} FROMMEMBER {member} BYBOX {radius} {radius} {unit} COUNT {count}",
    "GEORADIUS {key} {lon} {lat} {radius} {unit} {order} WITHCOORD",
    "GEORADIUS {key} {lon} {lat} {radius} {unit} STORE {key}",
    "GEORADIUSBYMEMBER {key} {member} {radius} {unit} STOREDIST {key}",
    "GEORADIUSBYMEMBER_RO {key} {member} {radius} {unit} WITHDIST",
    "ZADD {key} {score} {member}",
    "ZREM {key} {member}",
    "ZRANGE {key} 0 -1 WITHSCORES",
    "OBJECT ENCODING {key}",
    "DEL {key}",
    "SET {key} {val}",
    "CONFIG SET zset-max-listpack-entries {maxlp}",
];

const PLACEHOLDERS: &[Placeholder<'static>] = &[
    ("member", &["a", "b", "c", "d", "e", "\"x y\"", "\"\""]),
    (
        "lon",
        &[
            "0",
            "13.361389",
            "15.087269",
            "-180",
            "180",
            "179.9",
            "-0.5",
            "200",
            "x",
        ],
    ),
    (
        "lat",
        &[
            "0",
            "38.115556",
            "37.502669",
            "85.05112878",
            "-85.05112878",
            "-33",
            "86",
        ],
    ),
    ("flag", &["NX", "XX"]),
    ("unit", &["m", "km", "mi", "ft", "yd"]),
    ("radius", &["0", "10", "200", "5000", "20000", "-1"]),
    ("order", &["ASC", "DESC", ""]),
    ("count", &["1", "2", "5", "0", "2 ANY"]),
    ("score", &["0", "1", "3479099956230698", "-5", "1e300"]),
    ("maxlp", &["2", "128"]),
];

#[test]
fn random_sequences_geo() {
    let placeholders: Vec<Placeholder<'static>> = PLACEHOLDERS
        .iter()
        .chain(BASE_PLACEHOLDERS)
        .copied()
        .collect();
    run_random_sequences("random_sequences_geo", TEMPLATES, &placeholders, true);
}

/// Random searches (centre, shape, size, unit, order, COUNT, ANY) over a random index: the
/// Tcl suite's fuzz test compares with distances computed in Tcl; this compares every reply
/// with Redis's, boundary cases included.
#[test]
fn random_searches_match_redis() {
    let mut rng = Rng(0x9e05);
    let mut lines = Vec::new();
    for batch in 0..4 {
        let mut add = String::from("GEOADD r");
        for i in 0..500 {
            let _ = write!(
                add,
                " {} {} m{}",
                coord(&mut rng, -180.0, 180.0),
                coord(&mut rng, -85.05112878, 85.05112878),
                batch * 500 + i
            );
        }
        lines.push(add);
    }
    let units = ["m", "km", "mi", "ft"];
    let scales = [1e3, 1.0, 1.0 / 1.609, 3280.8];
    let orders = [
        "",
        "ASC",
        "DESC",
        "ASC COUNT 3",
        "DESC COUNT 7",
        "COUNT 5 ANY",
        "COUNT 2 ANY DESC",
    ];
    for _ in 0..600 {
        let u = (rng.next() % 4) as usize;
        // Sizes from 1 km to 20,000 km, in the chosen unit.
        let km = 10f64.powf((rng.next() % 4300) as f64 / 1000.0);
        let size = format!("{:.3}", km * scales[u]);
        let shape = if rng.next().is_multiple_of(2) {
            format!("BYRADIUS {size} {}", units[u])
        } else {
            let h = format!(
                "{:.3}",
                km * scales[u] * ((rng.next() % 300) as f64 / 100.0 + 0.1)
            );
            format!("BYBOX {size} {h} {}", units[u])
        };
        let from = if rng.next().is_multiple_of(4) {
            format!("FROMMEMBER m{}", rng.next() % 2000)
        } else {
            format!(
                "FROMLONLAT {} {}",
                coord(&mut rng, -180.0, 180.0),
                coord(&mut rng, -85.05112878, 85.05112878)
            )
        };
        let order = orders[(rng.next() % orders.len() as u64) as usize];
        lines.push(format!(
            "GEOSEARCH r {from} {shape} {order} WITHDIST WITHHASH"
        ));
    }
    compare("random searches", &lines);
}
