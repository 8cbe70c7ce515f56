//! Hex and URI encoding as SigV4 defines them.
//!
//! SigV4 encodes every byte except the unreserved characters of RFC 3986
//! (`A-Z a-z 0-9 - . _ ~`) as `%XY` with upper-case hex digits, and writes
//! hashes and signatures as lower-case hex.
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>.

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Lower-case hex encoding of `bytes`.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(hex_digit(HEX_LOWER, byte >> 4)));
        out.push(char::from(hex_digit(HEX_LOWER, byte & 0x0f)));
    }
    out
}

/// Decodes hex (either case) into exactly `N` bytes.
pub(crate) fn hex_decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0_u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *slot = (hex_value(*high)? << 4) | hex_value(*low)?;
    }
    Some(out)
}

/// Appends the SigV4 URI encoding of `bytes` to `out`.
///
/// With `keep_slash`, `/` is written as is (object key paths in S3);
/// otherwise it becomes `%2F`.
pub(crate) fn uri_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    for &byte in bytes {
        if is_unreserved(byte) || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(hex_digit(HEX_UPPER, byte >> 4)));
            out.push(char::from(hex_digit(HEX_UPPER, byte & 0x0f)));
        }
    }
}

/// The SigV4 URI encoding of `bytes`, `/` included.
pub(crate) fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    uri_encode_into(&mut out, bytes, false);
    out
}

/// Decodes `%XY` escapes. A `%` that does not start a valid escape is kept
/// as a literal `%`, and `+` stays `+` (SigV4 does not treat it as a space).
pub(crate) fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let high = bytes.get(index + 1).copied().and_then(hex_value);
            let low = bytes.get(index + 2).copied().and_then(hex_value);
            if let (Some(high), Some(low)) = (high, low) {
                out.push((high << 4) | low);
                index += 3;
                continue;
            }
        }
        out.push(byte);
        index += 1;
    }
    out
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_digit(alphabet: &[u8; 16], nibble: u8) -> u8 {
    // `nibble` is always below 16; `get` keeps the lint happy without a panic path.
    alphabet
        .get(usize::from(nibble & 0x0f))
        .copied()
        .unwrap_or(b'0')
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let bytes = [0x00, 0x7f, 0x80, 0xff, 0x5d];
        let text = hex_encode(&bytes);
        assert_eq!(text, "007f80ff5d");
        assert_eq!(hex_decode::<5>(&text), Some(bytes));
        assert_eq!(hex_decode::<5>("007F80FF5D"), Some(bytes));
    }

    #[test]
    fn hex_decode_rejects_bad_input() {
        assert_eq!(hex_decode::<2>("abc"), None);
        assert_eq!(hex_decode::<2>("abcg"), None);
        assert_eq!(hex_decode::<2>("abcdef"), None);
        assert_eq!(hex_decode::<1>("é"), None);
    }

    #[test]
    fn uri_encode_keeps_unreserved_only() {
        assert_eq!(uri_encode(b"AZaz09-._~"), "AZaz09-._~");
        assert_eq!(uri_encode(b"a b/c+d*%"), "a%20b%2Fc%2Bd%2A%25");
        assert_eq!(uri_encode("ሴ".as_bytes()), "%E1%88%B4");
        let mut path = String::new();
        uri_encode_into(&mut path, b"/a b/", true);
        assert_eq!(path, "/a%20b/");
    }

    #[test]
    fn percent_decode_is_lenient() {
        assert_eq!(percent_decode("a%20b+c"), b"a b+c");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%"), b"%");
        assert_eq!(percent_decode("%e1%88%B4"), "ሴ".as_bytes());
    }
}
