//! Glob matching exactly like Redis's `stringmatchlen` (KEYS, SCAN MATCH, CONFIG GET...).

/// Match `string` against `pattern`: `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// A byte as C's (signed) `char` sees it.
fn signed(b: u8) -> i32 {
    i32::from(b as i8)
}

/// C's `tolower` in the "C" locale: only ASCII letters change.
fn lower_signed(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

fn match_impl(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    // Redis caps recursion to protect the stack.
    if nesting > 1000 {
        return false;
    }
    // Like Redis, the loop needs both a pattern and a string left: `*` alone does not match
    // the empty string here (KEYS and SCAN special-case a lone `*`).
    while let Some(&pc) = p.first() {
        if s.is_empty() {
            break;
        }
        match pc {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let not = p.first() == Some(&b'^');
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    match p.first() {
                        Some(b'\\') if p.len() >= 2 => {
                            // An escaped class member compares exactly, even with `nocase`.
                            p = &p[1..];
                            if p[0] == s[0] {
                                matched = true;
                            }
                        }
                        Some(b']') => break,
                        None => {
                            // unterminated class: Redis steps back so the loop ends
                            break;
                        }
                        Some(_) if p.len() >= 3 && p[1] == b'-' => {
                            // Redis compares C `char`s, which are signed: bytes >= 0x80 sort
                            // below ASCII in ranges (`[a-\xff]` covers `0`..`a`).
                            let (mut start, mut end) = (signed(p[0]), signed(p[2]));
                            let mut c = signed(s[0]);
                            if start > end {
                                std::mem::swap(&mut start, &mut end);
                            }
                            if nocase {
                                start = lower_signed(start);
                                end = lower_signed(end);
                                c = lower_signed(c);
                            }
                            p = &p[2..];
                            if c >= start && c <= end {
                                matched = true;
                            }
                        }
                        Some(&c) => {
                            if eq(c, s[0], nocase) {
                                matched = true;
                            }
                        }
                    }
                    p = &p[1..];
                }
                if p.is_empty() {
                    // pattern ended inside the class: Redis treats the class as closed here
                    let matched = matched != not;
                    if !matched {
                        return false;
                    }
                    s = &s[1..];
                    return s.is_empty();
                }
                let matched = matched != not;
                if !matched {
                    return false;
                }
                s = &s[1..];
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            _ => {
                if !eq(pc, s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn basics() {
        assert!(m(b"*", b"anything", false));
        assert!(m(b"h?llo", b"hello", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"h\\*llo", b"h*llo", false));
        assert!(!m(b"h\\*llo", b"hallo", false));
        assert!(m(b"user:*", b"user:1", false));
        assert!(!m(b"user:*", b"use", false));
        assert!(m(b"a*", b"a", false));
        assert!(!m(b"a?", b"a", false));
        assert!(m(b"HELLO", b"hello", true));
    }

    /// Every pattern against every key, compared with what `KEYS` on redis-server 7.0.15
    /// returned for the same keys (classes, ranges, escapes, unterminated classes, bytes
    /// >= 0x80 compared as signed C chars).
    #[test]
    fn same_as_redis_keys() {
        const KEYS: &[&[u8]] = &[
            b"", b"a", b"b", b"c", b"d", b"ab", b"abc", b"a*", b"a\\", b"\\", b"]", b"[", b"-",
            b"^", b"x", b"0", b"\x80", b"\xfe", b"B", b"xcy", b"xay", b"*", b"?", b"hello",
            b"h^llo",
        ];
        // (pattern, the keys of KEYS that redis-server 7.0.15 returned for it)
        const REDIS: &[(&[u8], &[&[u8]])] = &[
            (b"", &[b""]),
            (
                b"?",
                &[
                    b"a", b"b", b"c", b"d", b"\\", b"]", b"[", b"-", b"^", b"x", b"0", b"\x80",
                    b"\xfe", b"B", b"*", b"?",
                ],
            ),
            (b"a*", &[b"a", b"ab", b"abc", b"a*", b"a\\"]),
            (b"*a", &[b"a"]),
            (b"a?c", &[b"abc"]),
            (b"[abc]", &[b"a", b"b", b"c"]),
            (
                b"[^abc]",
                &[
                    b"d", b"\\", b"]", b"[", b"-", b"^", b"x", b"0", b"\x80", b"\xfe", b"B", b"*",
                    b"?",
                ],
            ),
            (b"[a-c]", &[b"a", b"b", b"c"]),
            (b"[c-a]", &[b"a", b"b", b"c"]),
            (b"[a-]", &[b"a", b"]", b"^"]),
            (b"[a-]x]", &[b"a", b"]", b"^", b"x"]),
            (b"[abc", &[b"a", b"b", b"c"]),
            (b"[a-c", &[b"a", b"b", b"c"]),
            (b"[\\]]", &[b"]"]),
            (b"[\\", &[b"\\"]),
            (b"a\\*", &[b"a*"]),
            (b"a\\", &[b"a\\"]),
            (b"\\", &[b"\\"]),
            (b"[]", &[]),
            (
                b"[^]",
                &[
                    b"a", b"b", b"c", b"d", b"\\", b"]", b"[", b"-", b"^", b"x", b"0", b"\x80",
                    b"\xfe", b"B", b"*", b"?",
                ],
            ),
            (b"[]a]", &[]),
            (
                b"[a-\xff]",
                &[b"a", b"\\", b"]", b"[", b"-", b"^", b"0", b"B", b"*", b"?"],
            ),
            (b"[\x80-\x81]", &[b"\x80"]),
            (b"**b", &[b"b", b"ab"]),
            (b"*[", &[]),
            (b"[*]", &[b"*"]),
            (b"[?]", &[b"?"]),
            (b"a[", &[]),
            (
                b"[^",
                &[
                    b"a", b"b", b"c", b"d", b"\\", b"]", b"[", b"-", b"^", b"x", b"0", b"\x80",
                    b"\xfe", b"B", b"*", b"?",
                ],
            ),
            (b"x[^a-b]y", &[b"xcy"]),
            (b"[A-C]", &[b"B"]),
            (b"h[\\^e]llo", &[b"hello", b"h^llo"]),
            (
                b"*?*",
                &[
                    b"a", b"b", b"c", b"d", b"ab", b"abc", b"a*", b"a\\", b"\\", b"]", b"[", b"-",
                    b"^", b"x", b"0", b"\x80", b"\xfe", b"B", b"xcy", b"xay", b"*", b"?", b"hello",
                    b"h^llo",
                ],
            ),
            (
                b"?*?",
                &[
                    b"ab", b"abc", b"a*", b"a\\", b"xcy", b"xay", b"hello", b"h^llo",
                ],
            ),
        ];
        for (pattern, matching) in REDIS {
            for key in KEYS {
                assert_eq!(
                    m(pattern, key, false),
                    matching.contains(key),
                    "pattern {:?} key {:?}",
                    String::from_utf8_lossy(pattern),
                    String::from_utf8_lossy(key)
                );
            }
        }
    }

    #[test]
    fn signed_char_ranges() {
        // 0xff is -1 as a C char, so [a-\xff] is the range -1..='a'.
        assert!(m(b"[a-\xff]", b"0", false));
        assert!(m(b"[a-\xff]", b"\xff", false));
        assert!(!m(b"[a-\xff]", b"\x80", false));
        assert!(!m(b"[a-\xff]", b"b", false));
        assert!(m(b"[\x80-\x81]", b"\x81", false));
    }

    #[test]
    fn nocase() {
        assert!(m(b"[a-c]X", b"Bx", true));
        assert!(m(b"[A-C]", b"b", true));
        assert!(m(b"h[E]llo", b"HELLO", true));
        // An escaped class member compares exactly, even without case.
        assert!(!m(b"[\\E]", b"e", true));
        assert!(m(b"[\\E]", b"E", true));
        assert!(m(b"\\E", b"e", true));
    }

    #[test]
    fn empty_and_star() {
        // The matcher needs a non-empty string for `*`; KEYS/SCAN special-case a lone `*`.
        assert!(!m(b"*", b"", false));
        assert!(m(b"", b"", false));
        assert!(m(b"a**", b"a", false));
        assert!(!m(b"a*?", b"a", false));
    }

    #[test]
    fn nesting_limit_like_redis() {
        // Redis gives up (no match) beyond 1000 nested stars.
        let key = vec![b'a'; 1200];
        assert!(m(&b"*a".repeat(1000), &key, false));
        assert!(!m(&b"*a".repeat(1001), &key, false));
        assert!(m(&b"a*".repeat(1001), &key, false));
        assert!(!m(&b"a*".repeat(1002), &key, false));
    }

    #[test]
    fn no_exponential_blowup() {
        // skipLongerMatches keeps this linear-ish, as in Redis.
        let key = vec![b'a'; 60];
        let pattern = [&b"a*".repeat(30)[..], b"b"].concat();
        assert!(!m(&pattern, &key, false));
    }
}
