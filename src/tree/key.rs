//! Keys and service names: what may name a file in the tree. Pure, fuzzable.
//! A key is what `openat` will see as one path component, so anything that
//! could climb out (`/`, `..`) or confuse a shell reading the tree is refused.
use std::fmt;

/// Longest key, in bytes (the file-name limit of every Linux file system).
pub const MAX_KEY: usize = 255;

/// Why a key is refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyError {
    Empty,
    TooLong(usize),
    Dot,
    /// A byte outside letters, digits, `.`, `_`, `-`, `:`.
    BadByte(u8),
    /// A service name starting with `.` (the snapshot directories are `.<name>`).
    LeadingDot,
    /// A service name whose `.<name>` the root's own files use.
    Reserved,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KeyError::Empty => f.write_str("empty"),
            KeyError::TooLong(n) => write!(f, "{n} bytes long (max {MAX_KEY})"),
            KeyError::Dot => f.write_str("'.' and '..' are not keys"),
            KeyError::BadByte(b) if b.is_ascii_graphic() || b == b' ' => {
                write!(
                    f,
                    "'{}' not allowed (letters, digits, '.', '_', '-', ':')",
                    b as char
                )
            }
            KeyError::BadByte(b) => {
                write!(
                    f,
                    "byte 0x{b:02x} not allowed (letters, digits, '.', '_', '-', ':')"
                )
            }
            KeyError::LeadingDot => f.write_str("a service name may not start with '.'"),
            KeyError::Reserved => {
                f.write_str("reserved: the state root's own files are .control and .supervisor")
            }
        }
    }
}

fn key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':')
}

/// Checks one key of a tree (a file or directory name).
pub fn validate_key(key: &[u8]) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY {
        return Err(KeyError::TooLong(key.len()));
    }
    if key == b"." || key == b".." {
        return Err(KeyError::Dot);
    }
    match key.iter().find(|&&b| !key_byte(b)) {
        Some(&b) => Err(KeyError::BadByte(b)),
        None => Ok(()),
    }
}

/// Names whose `.<name>` is a file of the root's own: the supervisor's
/// control FIFO and its lock. A service of that name would collide with them.
pub const RESERVED: [&str; 2] = ["control", "supervisor"];

/// Checks a service name: a key that does not start with `.` and is not
/// `RESERVED`. The one rule for every name (publisher, reader, services
/// file, console).
pub fn validate_name(name: &[u8]) -> Result<(), KeyError> {
    validate_key(name)?;
    if name[0] == b'.' {
        return Err(KeyError::LeadingDot);
    }
    if RESERVED.iter().any(|r| r.as_bytes() == name) {
        return Err(KeyError::Reserved);
    }
    Ok(())
}

/// Splits a key path `a/b/c` into checked keys. An empty path is the root.
pub fn split_path(path: &str) -> Result<Vec<&str>, (String, KeyError)> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    path.split('/')
        .map(|k| {
            validate_key(k.as_bytes())
                .map(|()| k)
                .map_err(|e| (show(k.as_bytes()), e))
        })
        .collect()
}

/// A key quoted for an error message: printable ASCII as is, other bytes
/// escaped, long keys cut (a 10,000-byte key must not make a 10,000-byte message).
pub fn show(key: &[u8]) -> String {
    const CUT: usize = 40;
    let mut s = String::with_capacity(key.len().min(CUT) + 8);
    s.push('"');
    for &b in key.iter().take(CUT) {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => {
                s.push_str("\\x");
                s.push(char::from_digit((b >> 4) as u32, 16).unwrap_or('?'));
                s.push(char::from_digit((b & 15) as u32, 16).unwrap_or('?'));
            }
        }
    }
    if key.len() > CUT {
        s.push_str("...");
    }
    s.push('"');
    s
}

/// `a/b/c` for messages; the root of the tree is `top level`.
pub fn show_path<S: AsRef<str>>(path: &[S]) -> String {
    if path.is_empty() {
        return "top level".into();
    }
    let mut s = String::new();
    for (i, k) in path.iter().enumerate() {
        if i > 0 {
            s.push('/');
        }
        s.push_str(k.as_ref());
    }
    s
}

/// If `link` (a symlink's target) is exactly `.<name>/<digits>`, the generation.
pub fn parse_link(name: &str, link: &[u8]) -> Option<u64> {
    let rest = link
        .strip_prefix(b".")?
        .strip_prefix(name.as_bytes())?
        .strip_prefix(b"/")?;
    parse_generation(rest)
}

/// A generation directory's name: 1 to 19 ASCII digits.
pub fn parse_generation(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accepted() {
        for k in [
            "a",
            "eth0",
            "ra_prefixes",
            "1",
            "a.b",
            "x-y",
            "fe80::1",
            "...",
            ".hidden",
            "A_Z.09-:",
        ] {
            assert_eq!(validate_key(k.as_bytes()), Ok(()), "{k}");
        }
        assert_eq!(validate_key(&[b'a'; 255]), Ok(()));
    }

    #[test]
    fn keys_rejected() {
        assert_eq!(validate_key(b""), Err(KeyError::Empty));
        assert_eq!(validate_key(b"."), Err(KeyError::Dot));
        assert_eq!(validate_key(b".."), Err(KeyError::Dot));
        assert_eq!(validate_key(b"a/b"), Err(KeyError::BadByte(b'/')));
        assert_eq!(validate_key(b"../etc"), Err(KeyError::BadByte(b'/')));
        assert_eq!(validate_key(b"a\0b"), Err(KeyError::BadByte(0)));
        assert_eq!(validate_key(b"a b"), Err(KeyError::BadByte(b' ')));
        assert_eq!(validate_key(b"\xc3\xa9"), Err(KeyError::BadByte(0xc3)));
        assert_eq!(validate_key(&[b'a'; 256]), Err(KeyError::TooLong(256)));
        assert_eq!(
            validate_key(&vec![b'x'; 10_000]),
            Err(KeyError::TooLong(10_000))
        );
    }

    #[test]
    fn names() {
        assert_eq!(validate_name(b"eth0"), Ok(()));
        assert_eq!(validate_name(b".eth0"), Err(KeyError::LeadingDot));
        assert_eq!(validate_name(b"control"), Err(KeyError::Reserved));
        assert_eq!(validate_name(b"supervisor"), Err(KeyError::Reserved));
        assert_eq!(validate_name(b"controls"), Ok(()));
        assert_eq!(validate_key(b"control"), Ok(()), "a key may be called so");
        assert_eq!(validate_name(b"."), Err(KeyError::Dot));
        assert_eq!(validate_name(b""), Err(KeyError::Empty));
    }

    #[test]
    fn messages() {
        assert_eq!(show(b"a/b"), "\"a/b\"");
        assert_eq!(show(b"a\0\"b"), "\"a\\x00\\\"b\"");
        assert_eq!(show(&[b'x'; 10_000]).len(), 40 + 5);
        assert_eq!(
            KeyError::BadByte(b'/').to_string(),
            "'/' not allowed (letters, digits, '.', '_', '-', ':')"
        );
        assert_eq!(
            KeyError::TooLong(300).to_string(),
            "300 bytes long (max 255)"
        );
        assert_eq!(show_path::<&str>(&[]), "top level");
        assert_eq!(show_path(&["addresses", "1"]), "addresses/1");
    }

    #[test]
    fn paths() {
        assert_eq!(split_path("a/1/b").unwrap(), vec!["a", "1", "b"]);
        assert_eq!(split_path("").unwrap(), Vec::<&str>::new());
        assert_eq!(split_path("a//b").unwrap_err().1, KeyError::Empty);
        assert_eq!(split_path("a/../b").unwrap_err().1, KeyError::Dot);
    }

    #[test]
    fn links() {
        assert_eq!(parse_link("eth0", b".eth0/12"), Some(12));
        assert_eq!(parse_link("eth0", b".eth0/"), None);
        assert_eq!(parse_link("eth0", b".eth0/1x"), None);
        assert_eq!(parse_link("eth0", b".eth0/1/2"), None);
        assert_eq!(parse_link("eth0", b"/etc"), None);
        assert_eq!(parse_link("eth0", b".eth1/1"), None);
        assert_eq!(parse_link("eth0", b"../.eth0/1"), None);
        assert_eq!(parse_link("eth0", b".eth0/99999999999999999999"), None);
        assert_eq!(parse_generation(b"18446744073709551615"), None, "20 digits");
        assert_eq!(
            parse_generation(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
    }
}
