//! The geohash arithmetic of Redis's geo commands: 52-bit interleaved scores (26 bits of
//! longitude, 26 of latitude), the nine-box neighbourhood that covers a search shape, and the
//! haversine distance. Every formula keeps Redis's order of floating point operations so the
//! decoded coordinates and distances agree to the last bit.

/// Bits of precision per coordinate in a stored score.
pub const STEP_MAX: u8 = 26;
/// Southernmost latitude a geo set can index (Web Mercator's limit).
pub const LAT_MIN: f64 = -85.05112878;
/// Northernmost latitude a geo set can index.
pub const LAT_MAX: f64 = 85.05112878;
/// Westernmost longitude.
pub const LONG_MIN: f64 = -180.0;
/// Easternmost longitude.
pub const LONG_MAX: f64 = 180.0;
/// The mean Earth radius Redis uses for every distance, in meters.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A closed coordinate interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f64,
    /// Upper end.
    pub max: f64,
}

/// A geohash cell: `step` bits per coordinate, interleaved in `bits` (latitude in the even
/// bits, longitude in the odd ones). A zero step marks a cell excluded from a search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    /// Interleaved bits.
    pub bits: u64,
    /// Bits per coordinate (0: none).
    pub step: u8,
}

impl Cell {
    /// True for a cell removed from the search (`GZERO` in Redis).
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The score range `[min, max)` of the members inside this cell.
    pub fn score_range(&self) -> (u64, u64) {
        let shift = 52u32.saturating_sub(u32::from(self.step) * 2);
        let min = self.bits.wrapping_shl(shift);
        let max = self.bits.wrapping_add(1).wrapping_shl(shift);
        (min, max)
    }
}

/// The rectangle a cell covers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Area {
    /// Longitudes covered.
    pub longitude: Range,
    /// Latitudes covered.
    pub latitude: Range,
}

/// The coordinate ranges of stored scores.
pub const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
/// See [`WGS84_LONG`].
pub const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spread the 32 bits of `v` over the even bits of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gather the even bits of `x` into a u32 (the inverse of [`spread`]).
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// A double converted to u32 as C's cast does for the values geohashing produces (in range
/// or just at 2^32 when a coordinate sits on the upper limit with step 32, never reached).
fn to_u32(d: f64) -> u32 {
    d as u32
}

/// Encode a point at `step` bits per coordinate within the given ranges; None when the
/// point is outside the indexable area or the ranges.
pub fn encode(long_range: Range, lat_range: Range, lon: f64, lat: f64, step: u8) -> Option<Cell> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < long_range.min || lon > long_range.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (lon - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= scale;
    long_offset *= scale;
    let bits = spread(to_u32(lat_offset)) | (spread(to_u32(long_offset)) << 1);
    Some(Cell { bits, step })
}

/// The area of a cell.
pub fn decode(long_range: Range, lat_range: Range, cell: Cell) -> Area {
    let step = cell.step;
    let ilato = squash(cell.bits);
    let ilono = squash(cell.bits >> 1);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let div = (1u64 << step) as f64;
    Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) / div) * lat_scale,
            max: lat_range.min + (f64::from(ilato.wrapping_add(1)) / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) / div) * long_scale,
            max: long_range.min + (f64::from(ilono.wrapping_add(1)) / div) * long_scale,
        },
    }
}

/// C's conversion of a double to u64 on x86-64 (what `(uint64_t)score` gives for any
/// score, including negative and huge ones a plain ZADD may have stored).
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    let cvt = |v: f64| -> u64 {
        if v.is_nan() || !(-TWO63..TWO63).contains(&v) {
            0x8000_0000_0000_0000
        } else {
            (v as i64) as u64
        }
    };
    if d < TWO63 {
        cvt(d)
    } else {
        cvt(d - TWO63) ^ 0x8000_0000_0000_0000
    }
}

/// The (longitude, latitude) a stored score stands for: the centre of its cell.
pub fn decode_score(score: f64) -> (f64, f64) {
    let cell = Cell {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    let area = decode(WGS84_LONG, WGS84_LAT, cell);
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The score GEOADD stores for a point (already checked to be indexable).
pub fn encode_score(lon: f64, lat: f64) -> f64 {
    let cell = encode(WGS84_LONG, WGS84_LAT, lon, lat, STEP_MAX).unwrap_or_default();
    cell.score_range().0 as f64
}

/// The 11-character standard geohash GEOHASH replies with (latitude over ±90).
pub fn standard_geohash(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let lat_range = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(WGS84_LONG, lat_range, lon, lat, STEP_MAX)
        .map(|c| c.bits)
        .unwrap_or(0);
    let mut out = [b'0'; 11];
    // 52 bits give ten characters; the eleventh is always '0', as in Redis.
    for (i, slot) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *slot = ALPHABET[idx as usize];
    }
    out
}

/// Haversine great-circle distance in meters.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lat1r = deg_rad(lat1d);
    let lon1r = deg_rad(lon1d);
    let lat2r = deg_rad(lat2d);
    let lon2r = deg_rad(lon2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_IN_METERS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// A search shape: a circle or an axis-aligned box around a centre, sizes in the unit given
/// by `conversion` (meters per unit).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Centre (longitude, latitude).
    pub xy: (f64, f64),
    /// Meters per unit.
    pub conversion: f64,
    /// The shape's size.
    pub kind: ShapeKind,
}

/// Circle or box.
#[derive(Clone, Copy, Debug)]
pub enum ShapeKind {
    /// BYRADIUS.
    Radius(f64),
    /// BYBOX width height.
    Box(f64, f64),
}

impl Shape {
    /// Whether a point is inside the shape; Some(distance from the centre in meters) if so.
    pub fn contains(&self, lon: f64, lat: f64) -> Option<f64> {
        let (x1, y1) = self.xy;
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(x1, y1, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            ShapeKind::Box(w, h) => {
                let (width_m, height_m) = (w * self.conversion, h * self.conversion);
                let lon_distance = distance(lon, lat, x1, lat);
                let lat_distance = distance(lon, lat, lon, y1);
                if lon_distance > width_m / 2.0 || lat_distance > height_m / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, lon, lat))
            }
        }
    }

    /// The bounding box `[min_lon, min_lat, max_lon, max_lat]` of the shape.
    fn bounding_box(&self) -> [f64; 4] {
        let (longitude, latitude) = self.xy;
        let (height, width) = match self.kind {
            ShapeKind::Radius(r) => (self.conversion * r, self.conversion * r),
            ShapeKind::Box(w, h) => (self.conversion * (h / 2.0), self.conversion * (w / 2.0)),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        // The box is wider on the side nearer the equator.
        let delta = if latitude < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            longitude - delta,
            latitude - lat_delta,
            longitude + delta,
            latitude + lat_delta,
        ]
    }

    /// The radius (centre to corner for a box) in meters.
    fn radius_meters(&self) -> f64 {
        let r = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        };
        r * self.conversion
    }
}

/// The cell precision for a search of `range_meters` around latitude `lat`.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    // Cells are narrower towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// Move a cell `d` columns east (positive) or west.
fn move_x(cell: &mut Cell, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(cell.step) * 2;
    let mut x = cell.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = cell.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz.wrapping_add(1));
    } else {
        x |= zz;
        x = x.wrapping_sub(zz.wrapping_add(1));
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    cell.bits = x | y;
}

/// Move a cell `d` rows north (positive) or south.
fn move_y(cell: &mut Cell, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(cell.step) * 2;
    let x = cell.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = cell.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz.wrapping_add(1));
    } else {
        y |= zz;
        y = y.wrapping_sub(zz.wrapping_add(1));
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    cell.bits = x | y;
}

fn moved(cell: Cell, dx: i8, dy: i8) -> Cell {
    let mut c = cell;
    move_x(&mut c, dx);
    move_y(&mut c, dy);
    c
}

/// The cells to scan for a search, in Redis's order: centre, north, south, east, west,
/// north-east, north-west, south-east, south-west (excluded ones zeroed).
pub fn search_cells(shape: &Shape) -> [Cell; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounding_box();
    let (longitude, latitude) = shape.xy;
    let mut steps = estimate_steps(shape.radius_meters(), latitude);
    let neighbours = |steps: u8| {
        let hash = encode(WGS84_LONG, WGS84_LAT, longitude, latitude, steps).unwrap_or(Cell {
            bits: 0,
            step: steps,
        });
        let n = [
            hash,
            moved(hash, 0, 1),
            moved(hash, 0, -1),
            moved(hash, 1, 0),
            moved(hash, -1, 0),
            moved(hash, 1, 1),
            moved(hash, -1, 1),
            moved(hash, 1, -1),
            moved(hash, -1, -1),
        ];
        (n, decode(WGS84_LONG, WGS84_LAT, hash))
    };
    let (mut n, mut area) = neighbours(steps);
    // Near the edge of a cell the estimated step can be one too fine to cover the shape.
    let north = decode(WGS84_LONG, WGS84_LAT, n[1]);
    let south = decode(WGS84_LONG, WGS84_LAT, n[2]);
    let east = decode(WGS84_LONG, WGS84_LAT, n[3]);
    let west = decode(WGS84_LONG, WGS84_LAT, n[4]);
    let decrease = north.latitude.max < max_lat
        || south.latitude.min > min_lat
        || east.longitude.max < max_lon
        || west.longitude.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (n, area) = neighbours(steps);
    }
    // Drop the neighbours the shape cannot reach.
    if steps >= 2 {
        let zero =
            |n: &mut [Cell; 9], idx: [usize; 3]| idx.iter().for_each(|&i| n[i] = Cell::default());
        if area.latitude.min < min_lat {
            zero(&mut n, [2, 8, 7]);
        }
        if area.latitude.max > max_lat {
            zero(&mut n, [1, 5, 6]);
        }
        if area.longitude.min < min_lon {
            zero(&mut n, [4, 8, 6]);
        }
        if area.longitude.max > max_lon {
            zero(&mut n, [3, 7, 5]);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
        }
    }

    #[test]
    fn scores_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698.
        assert_eq!(encode_score(13.361389, 38.115556), 3479099956230698.0);
        let (lon, lat) = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&standard_geohash(3479099956230698.0), b"sqc8b49rny0");
    }

    #[test]
    fn distance_matches_redis() {
        let (a, b) = (
            decode_score(3479099956230698.0),
            decode_score(3479447370796909.0),
        );
        assert_eq!(
            format!("{:.4}", distance(a.0, a.1, b.0, b.1)),
            "166274.1516"
        );
    }

    #[test]
    fn steps_for_radius() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1e9, 0.0), 1);
        assert!(estimate_steps(1000.0, 70.0) < estimate_steps(1000.0, 0.0));
    }

    #[test]
    fn odd_scores_decode_without_panic() {
        for s in [-1.0, f64::MAX, f64::NAN, 1e300, -1e300] {
            let _ = decode_score(s);
            let _ = standard_geohash(s);
        }
    }
}
