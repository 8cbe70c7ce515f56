//! Wildcard matching with `*` (any run, possibly empty) and `?` (one character).
//!
//! Patterns are compiled once into [`Atom`]s; matching walks bytes and never
//! allocates. `?` consumes one whole UTF-8 character and `*` only stops at
//! character boundaries, so multi-byte text matches as characters.

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Atom {
    /// One literal byte.
    Byte(u8),
    /// `?`: exactly one character.
    One,
    /// `*`: any run of characters.
    Any,
}

/// Compiles wildcard text: `*` and `?` are wildcards, everything else literal.
pub(crate) fn compile(pattern: &str, out: &mut Vec<Atom>) {
    for b in pattern.bytes() {
        out.push(match b {
            b'*' => Atom::Any,
            b'?' => Atom::One,
            b => Atom::Byte(b),
        });
    }
}

/// Appends text that must match literally (no wildcards).
pub(crate) fn literal(text: &str, out: &mut Vec<Atom>) {
    out.extend(text.bytes().map(Atom::Byte));
}

/// Does `text` match `pattern`? With `fold_case`, ASCII letters compare
/// case-insensitively (the pattern must then be lower case already).
pub(crate) fn matches(pattern: &[Atom], text: &str, fold_case: bool) -> bool {
    matches_bytes(pattern, text.as_bytes(), fold_case)
}

/// [`matches`] on bytes (a string's, or a lower-cased copy of one).
fn matches_bytes(pattern: &[Atom], t: &[u8], fold_case: bool) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    // Where the last `*` was, and where in the text it started to absorb.
    let mut star: Option<(usize, usize)> = None;
    loop {
        match pattern.get(p) {
            Some(Atom::Any) => {
                star = Some((p, i));
                p += 1;
                continue;
            }
            Some(Atom::One) if i < t.len() => {
                i += char_width(t, i);
                p += 1;
                continue;
            }
            Some(Atom::Byte(b)) => {
                if let Some(&c) = t.get(i) {
                    let c = if fold_case { c.to_ascii_lowercase() } else { c };
                    if c == *b {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
            None if i == t.len() => return true,
            _ => {}
        }
        // Mismatch: let the last `*` absorb one more character, or fail.
        match star {
            Some((sp, si)) if si < t.len() => {
                let next = si + char_width(t, si);
                star = Some((sp, next));
                p = sp + 1;
                i = next;
            }
            _ => return false,
        }
    }
}

/// Width in bytes of the UTF-8 character starting at `i` (1 for stray bytes).
fn char_width(t: &[u8], i: usize) -> usize {
    match t.get(i) {
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        _ => 1,
    }
    .min(t.len() - i.min(t.len()))
    .max(1)
}

/// A compiled pattern with fast paths for the common shapes: a literal, a
/// `prefix*`, and `*` alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Matcher {
    /// `*`: everything.
    Any,
    /// No wildcards: the whole text.
    Exact(Vec<u8>),
    /// Literal text followed by one `*`.
    Prefix(Vec<u8>),
    /// Anything else.
    Glob(Vec<Atom>),
}

impl Matcher {
    /// Compiles `atoms` into the cheapest matcher that is equivalent.
    pub(crate) fn new(atoms: Vec<Atom>) -> Self {
        let literal = |a: &[Atom]| -> Option<Vec<u8>> {
            a.iter()
                .map(|x| match x {
                    Atom::Byte(b) => Some(*b),
                    _ => None,
                })
                .collect()
        };
        match atoms.split_last() {
            Some((Atom::Any, [])) => Matcher::Any,
            Some((Atom::Any, head)) => match literal(head) {
                Some(p) => Matcher::Prefix(p),
                None => Matcher::Glob(atoms),
            },
            _ => match literal(&atoms) {
                Some(p) => Matcher::Exact(p),
                None => Matcher::Glob(atoms),
            },
        }
    }

    /// Does `text` match? With `fold_case`, ASCII letters compare
    /// case-insensitively (the pattern must be lower case).
    pub(crate) fn matches(&self, text: &str, fold_case: bool) -> bool {
        self.matches_bytes(text.as_bytes(), fold_case)
    }

    /// [`Matcher::matches`] on the bytes of a string.
    pub(crate) fn matches_bytes(&self, t: &[u8], fold_case: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if fold_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match self {
            Matcher::Any => true,
            Matcher::Exact(p) => t.len() == p.len() && eq(t, p),
            Matcher::Prefix(p) => t.get(..p.len()).is_some_and(|head| eq(head, p)),
            Matcher::Glob(atoms) => matches_bytes(atoms, t, fold_case),
        }
    }
}

/// Splits an ARN-like string into its six parts on the first five colons.
/// Returns `None` if there are fewer than five colons.
pub(crate) fn arn_parts(text: &str) -> Option<[&str; 6]> {
    let mut it = text.splitn(6, ':');
    let parts = [
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ];
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        let mut a = Vec::new();
        compile(p, &mut a);
        matches(&a, t, false)
    }

    #[test]
    fn wildcards() {
        assert!(m("a*c", "abc"));
        assert!(m("a*c", "ac"));
        assert!(m("a*c", "abxc"));
        assert!(!m("a*c", "abcd"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("**", "x"));
        assert!(!m("", "x"));
        assert!(m("", ""));
        assert!(m("a*b*c", "a-b-b-c"));
        assert!(m("?", "é"));
        assert!(m("*é", "aé"));
        assert!(!m("??", "é"));
    }

    #[test]
    fn fold_case_for_actions() {
        let mut a = Vec::new();
        compile("kms:get*", &mut a);
        assert!(matches(&a, "KMS:GetKeyPolicy", true));
        assert!(!matches(&a, "KMS:GetKeyPolicy", false));
    }

    #[test]
    fn fast_paths_agree_with_glob() {
        for (p, t) in [
            ("*", ""),
            ("abc", "abc"),
            ("abc", "abd"),
            ("ab*", "abx"),
            ("ab*", "a"),
            ("a*c", "abc"),
            ("", ""),
        ] {
            let mut a = Vec::new();
            compile(p, &mut a);
            assert_eq!(
                Matcher::new(a.clone()).matches(t, false),
                matches(&a, t, false),
                "{p} {t}"
            );
        }
        let mut a = Vec::new();
        compile("kms:get*", &mut a);
        assert!(Matcher::new(a).matches("KMS:GetKeyPolicy", true));
    }

    #[test]
    fn arn_split() {
        assert_eq!(
            arn_parts("arn:aws:kms:us-east-1:1:key/a:b"),
            Some(["arn", "aws", "kms", "us-east-1", "1", "key/a:b"])
        );
        assert_eq!(arn_parts("arn:aws:kms"), None);
    }
}
