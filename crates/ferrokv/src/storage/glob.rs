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
                            p = &p[1..];
                            if eq(p[0], s[0], nocase) {
                                matched = true;
                            }
                        }
                        Some(b']') => break,
                        None => {
                            // unterminated class: Redis steps back so the loop ends
                            break;
                        }
                        Some(_) if p.len() >= 3 && p[1] == b'-' => {
                            let (mut start, mut end) = (p[0], p[2]);
                            let mut c = s[0];
                            if start > end {
                                std::mem::swap(&mut start, &mut end);
                            }
                            if nocase {
                                start = start.to_ascii_lowercase();
                                end = end.to_ascii_lowercase();
                                c = c.to_ascii_lowercase();
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
}
