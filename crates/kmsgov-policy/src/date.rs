//! Dates as IAM compares them: ISO 8601 (the W3C profile) or epoch seconds.

/// Milliseconds since the Unix epoch, or `None` if `text` is not a date.
///
/// Accepted: `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.fff]]` with an
/// optional `Z` or `±hh:mm` offset (UTC when absent), and epoch seconds with an
/// optional fraction (`1767225600`, `1767225600.5`).
pub(crate) fn parse_millis(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && !t.get(1..).is_some_and(|r| r.contains('-'))
    {
        return epoch(t);
    }
    iso(t)
}

fn epoch(t: &str) -> Option<i64> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    if secs.is_empty() || secs.len() > 15 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let millis = frac_millis(frac)?;
    let v = secs.checked_mul(1000)?.checked_add(millis)?;
    Some(if neg { -v } else { v })
}

fn frac_millis(frac: &str) -> Option<i64> {
    let mut millis = 0i64;
    for (i, b) in frac.bytes().take(3).enumerate() {
        let d = i64::from(b.checked_sub(b'0').filter(|d| *d < 10)?);
        millis += d * [100, 10, 1].get(i).copied().unwrap_or(0);
    }
    Some(millis)
}

fn num(s: &str, len: usize) -> Option<i64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn iso(t: &str) -> Option<i64> {
    let (date, time) = match t.split_once(['T', 't']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let mut dp = date.split('-');
    let year = num(dp.next()?, 4)?;
    let month = dp.next().map(|m| num(m, 2)).unwrap_or(Some(1))?;
    let day = dp.next().map(|d| num(d, 2)).unwrap_or(Some(1))?;
    if dp.next().is_some() || !(1..=12).contains(&month) || day < 1 || day > days_in(year, month) {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        let (clock, offset) = split_offset(time)?;
        let mut cp = clock.split(':');
        let h = num(cp.next()?, 2)?;
        let m = num(cp.next()?, 2)?;
        let (s, frac) = match cp.next() {
            Some(sec) => {
                let (s, f) = sec.split_once('.').unwrap_or((sec, ""));
                if sec.contains('.') && f.is_empty() {
                    return None;
                }
                (num(s, 2)?, frac_millis(f)?)
            }
            None => (0, 0),
        };
        if cp.next().is_some()
            || h > 24
            || m > 59
            || s > 60
            || (h == 24 && (m, s, frac) != (0, 0, 0))
        {
            return None;
        }
        millis += ((h * 60 + m) * 60 + s) * 1000 + frac - offset * 60_000;
    }
    Some(millis)
}

/// Splits `hh:mm:ss±hh:mm` / `…Z` into clock and offset in minutes.
fn split_offset(time: &str) -> Option<(&str, i64)> {
    if let Some(c) = time.strip_suffix(['Z', 'z']) {
        return Some((c, 0));
    }
    if let Some(pos) = time.rfind(['+', '-']) {
        let (clock, off) = time.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let off = off.get(1..)?;
        let (oh, om) = off
            .split_once(':')
            .unwrap_or((off.get(..2)?, off.get(2..)?));
        let (oh, om) = (num(oh, 2)?, num(om, 2)?);
        if oh > 23 || om > 59 {
            return None;
        }
        return Some((clock, sign * (oh * 60 + om)));
    }
    Some((time, 0))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_millis as p;

    #[test]
    fn formats() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2026-01-01"), Some(1_767_225_600_000));
        assert_eq!(p("2026-01-01T00:00:00Z"), Some(1_767_225_600_000));
        assert_eq!(p("2026-01-01T02:00:00+02:00"), Some(1_767_225_600_000));
        assert_eq!(p("1767225600"), Some(1_767_225_600_000));
        assert_eq!(p("1767225600.5"), Some(1_767_225_600_500));
        assert_eq!(p("2026-01-01T00:00:00.250Z"), Some(1_767_225_600_250));
        assert_eq!(p("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(p("2023-02-29"), None);
        assert_eq!(p("2026-13-01"), None);
        assert_eq!(p("yesterday"), None);
        assert_eq!(p(""), None);
    }
}
