//! RFC 8785 JSON Canonicalization Scheme (JCS), and the content address of
//! a policy built on it.
//!
//! Canonical JSON has no whitespace, object members sorted by the UTF-16
//! code units of their names, strings escaped minimally (`\"`, `\\`, the
//! short escapes for `\b \t \n \f \r`, `\u00xx` for other control
//! characters, everything else as it is), and numbers written as
//! ECMAScript writes doubles (`1e+30`, `0.002`, `4.5`). Two documents that
//! mean the same JSON have the same canonical bytes, so a hash of them names
//! the document, not its formatting.

use aws_lc_rs::digest::{Context, SHA256};
use serde_json::Value;

/// The domain label of policy ids.
const POLICY_ID_LABEL: &[u8] = b"kmsgov/policy/v1\0";

/// Why a document has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonicalError {
    /// A number that is not a finite IEEE double, or an integer beyond
    /// 2^53 that a double cannot hold exactly (RFC 8785 §3.2.2.3).
    Number(String),
}

impl std::fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CanonicalError::Number(n) => write!(f, "the number {n} has no exact IEEE double"),
        }
    }
}

impl std::error::Error for CanonicalError {}

/// The canonical (RFC 8785) bytes of `value`.
///
/// # Errors
///
/// A number cannot be represented exactly as a double.
pub fn canonicalize(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write(value, &mut out)?;
    Ok(out)
}

/// A policy's id: SHA-256 over `kmsgov/policy/v1`, a zero byte, and the
/// policy's canonical JSON, as 64 lowercase hex digits.
///
/// # Errors
///
/// The policy has no canonical form.
pub fn policy_id(policy: &Value) -> Result<String, CanonicalError> {
    let canonical = canonicalize(policy)?;
    let mut context = Context::new(&SHA256);
    context.update(POLICY_ID_LABEL);
    context.update(canonical.as_bytes());
    Ok(crate::crypto::hex(context.finish().as_ref()))
}

fn write(value: &Value, out: &mut String) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)?),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out)?;
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, member)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(name, out);
                out.push(':');
                write(member, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// 2^53: integers up to here are exact doubles.
const EXACT: u64 = 1 << 53;

fn number(n: &serde_json::Number) -> Result<String, CanonicalError> {
    if let Some(u) = n.as_u64() {
        if u > EXACT {
            return Err(CanonicalError::Number(n.to_string()));
        }
        return Ok(u.to_string());
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > EXACT {
            return Err(CanonicalError::Number(n.to_string()));
        }
        return Ok(i.to_string());
    }
    let f = n
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| CanonicalError::Number(n.to_string()))?;
    Ok(es6_number(f))
}

/// Digits `d.ddd` and exponent of a positive double in scientific form.
fn scientific(text: &str) -> (Vec<u8>, i32) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// The shortest digits that read back as `f` (positive, finite), and the
/// exponent of the first: `d.ddd × 10^e`. Where two such digit strings are
/// equally near `f`, ECMAScript takes the even one; Rust's formatting may
/// take the other, so exact ties are settled here.
fn shortest_digits(f: f64) -> (String, i32) {
    let (digits, exponent) = scientific(&format!("{f:e}"));
    let k = digits.len();
    // The exact value of the double (every double has a finite decimal
    // expansion of at most 767 significant digits).
    let (mut exact, exact_exponent) = scientific(&format!("{f:.800e}"));
    while exact.len() > 1 && exact.last() == Some(&b'0') {
        exact.pop();
    }
    let tie = exact.len() == k + 1 && exact.last() == Some(&b'5');
    let chosen = if tie {
        let mut low: Vec<u8> = exact.iter().take(k).copied().collect();
        let low_even = low.last().is_some_and(|d| (d - b'0').is_multiple_of(2));
        if low_even {
            (low, exact_exponent)
        } else {
            // low + 1 in the last place, carrying.
            let mut carry = true;
            for d in low.iter_mut().rev() {
                if !carry {
                    break;
                }
                if *d == b'9' {
                    *d = b'0';
                } else {
                    *d += 1;
                    carry = false;
                }
            }
            if carry {
                low.insert(0, b'1');
                (low, exact_exponent + 1)
            } else {
                (low, exact_exponent)
            }
        }
    } else {
        (digits, exponent)
    };
    let (mut digits, exponent) = chosen;
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (String::from_utf8(digits).unwrap_or_default(), exponent)
}

/// ECMAScript's `Number.prototype.toString` for a finite double: the
/// shortest digits that round-trip, placed as ECMA-262 §6.1.6.1.20 says.
fn es6_number(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // Rust's `{:e}` prints the shortest round-trip digits: `d.ddde±x`.
    let (digits, exponent) = shortest_digits(f.abs());
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // The value is 0.d1…dk × 10^n.
    let n = exponent + 1;
    let body = if k <= n && n <= 21 {
        let zeros = usize::try_from(n - k).unwrap_or(0);
        format!("{digits}{}", "0".repeat(zeros))
    } else if 0 < n && n <= 21 {
        let point = usize::try_from(n).unwrap_or(0);
        let (int, frac) = digits.split_at(point.min(digits.len()));
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        let zeros = usize::try_from(-n).unwrap_or(0);
        format!("0.{}{digits}", "0".repeat(zeros))
    } else {
        let e = n - 1;
        let e = if e >= 0 {
            format!("+{e}")
        } else {
            e.to_string()
        };
        let (first, rest) = digits.split_at(1.min(digits.len()));
        if rest.is_empty() {
            format!("{first}e{e}")
        } else {
            format!("{first}.{rest}e{e}")
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_as_ecmascript_writes_them() {
        // RFC 8785 Appendix B.
        let cases: [(u64, &str); 18] = [
            (0x0000_0000_0000_0000, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0x4340_0000_0000_0001, "9007199254740994"),
            (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
            (0x44b5_2d02_c7e1_4af6, "1e+23"),
            (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
            (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
            (0x444b_1ae4_d6e2_ef50, "1e+21"),
            (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
            (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
            (0x41b3_de43_5555_5553, "333333333.3333332"),
            (0x41b3_de43_5555_5555, "333333333.3333333"),
            (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
            (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        ];
        for (bits, expected) in cases {
            assert_eq!(es6_number(f64::from_bits(bits)), expected, "{bits:#x}");
        }
        assert_eq!(es6_number(1e21), "1e+21");
        assert_eq!(es6_number(1e-7), "1e-7");
        assert_eq!(es6_number(4.5), "4.5");
        assert_eq!(es6_number(0.002), "0.002");
        assert_eq!(es6_number(-1.5e-9), "-1.5e-9");
        assert_eq!(es6_number(123.456), "123.456");
    }
}
