//! Timestamps: the ISO 8601 basic form SigV4 signs (`20150830T123600Z`) and
//! the RFC 7231 form of the HTTP `Date` header.
//!
//! The crate never reads the clock: callers pass the current time in.

use std::fmt;

/// A point in time, in whole seconds since the Unix epoch (UTC).
///
/// ```
/// use kmsgov_sigv4::Timestamp;
///
/// let time = Timestamp::parse_amz_date("20150830T123600Z").unwrap();
/// assert_eq!(time.unix_seconds(), 1_440_938_160);
/// assert_eq!(time.to_string(), "20150830T123600Z");
/// assert_eq!(time.date_stamp(), "20150830");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Years outside this range are rejected, so that arithmetic never overflows.
const MIN_YEAR: i64 = 1970;
const MAX_YEAR: i64 = 9999;

impl Timestamp {
    /// The time `seconds` after 1970-01-01T00:00:00Z.
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    /// Parses the `x-amz-date` form, `YYYYMMDD'T'HHMMSS'Z'`.
    pub fn parse_amz_date(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let [y0, y1, y2, y3, mo0, mo1, d0, d1, b'T', h0, h1, mi0, mi1, s0, s1, b'Z'] = *bytes
        else {
            return None;
        };
        let year = digits(&[y0, y1, y2, y3])?;
        let month = digits(&[mo0, mo1])?;
        let day = digits(&[d0, d1])?;
        let hour = digits(&[h0, h1])?;
        let minute = digits(&[mi0, mi1])?;
        let second = digits(&[s0, s1])?;
        Self::from_parts(year, month, day, hour, minute, second)
    }

    /// Parses the credential-scope date form, `YYYYMMDD`, as midnight UTC.
    pub fn parse_date_stamp(text: &str) -> Option<Self> {
        let [y0, y1, y2, y3, mo0, mo1, d0, d1] = *text.as_bytes() else {
            return None;
        };
        let year = digits(&[y0, y1, y2, y3])?;
        let month = digits(&[mo0, mo1])?;
        let day = digits(&[d0, d1])?;
        Self::from_parts(year, month, day, 0, 0, 0)
    }

    /// Parses the HTTP `Date` header form, `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn parse_http_date(text: &str) -> Option<Self> {
        let mut words = text.split_ascii_whitespace();
        let weekday = words.next()?;
        if weekday.len() != 4 || !weekday.ends_with(',') {
            return None;
        }
        let day = words.next()?;
        let month = words.next()?;
        let year = words.next()?;
        let clock = words.next()?;
        if words.next()? != "GMT" || words.next().is_some() {
            return None;
        }
        let day = match *day.as_bytes() {
            [d0, d1] => digits(&[d0, d1])?,
            [d0] => digits(&[d0])?,
            _ => return None,
        };
        let month = MONTHS.iter().position(|name| *name == month)?;
        let month = i64::try_from(month).ok()? + 1;
        let [y0, y1, y2, y3] = *year.as_bytes() else {
            return None;
        };
        let year = digits(&[y0, y1, y2, y3])?;
        let [h0, h1, b':', mi0, mi1, b':', s0, s1] = *clock.as_bytes() else {
            return None;
        };
        let hour = digits(&[h0, h1])?;
        let minute = digits(&[mi0, mi1])?;
        let second = digits(&[s0, s1])?;
        Self::from_parts(year, month, day, hour, minute, second)
    }

    /// The `YYYYMMDD` date used in the credential scope.
    pub fn date_stamp(self) -> String {
        let (year, month, day) = civil_from_days(self.0.div_euclid(86_400));
        format!("{year:04}{month:02}{day:02}")
    }

    /// This time plus `seconds`, or `None` on overflow.
    pub fn checked_add(self, seconds: i64) -> Option<Self> {
        self.0.checked_add(seconds).map(Self)
    }

    fn from_parts(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: i64,
    ) -> Option<Self> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year)
            || !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(Self(days * 86_400 + hour * 3_600 + minute * 60 + second))
    }
}

impl fmt::Display for Timestamp {
    /// Writes the `x-amz-date` form, `YYYYMMDD'T'HHMMSS'Z'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let seconds = self.0.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
            seconds / 3_600,
            seconds % 3_600 / 60,
            seconds % 60
        )
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0_i64, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_amz_dates() {
        let time = Timestamp::parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(time.unix_seconds(), 1_440_938_160);
        assert_eq!(time.to_string(), "20150830T123600Z");
        assert_eq!(time.date_stamp(), "20150830");
        let leap = Timestamp::parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(leap.to_string(), "20240229T235959Z");
        assert_eq!(
            Timestamp::from_unix_seconds(0).to_string(),
            "19700101T000000Z"
        );
    }

    #[test]
    fn rejects_impossible_dates() {
        for text in [
            "20150230T000000Z",
            "20230229T000000Z",
            "20151301T000000Z",
            "20150830T240000Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "19691231T235959Z",
            "2015083OT123600Z",
            "",
        ] {
            assert_eq!(Timestamp::parse_amz_date(text), None, "{text}");
        }
    }

    #[test]
    fn parses_http_dates() {
        let time = Timestamp::parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").unwrap();
        assert_eq!(time.to_string(), "20150830T123600Z");
        assert_eq!(
            Timestamp::parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"),
            None
        );
        assert_eq!(Timestamp::parse_http_date("30 Aug 2015 12:36:00 GMT"), None);
    }

    #[test]
    fn date_stamps() {
        let day = Timestamp::parse_date_stamp("20150830").unwrap();
        assert_eq!(day.to_string(), "20150830T000000Z");
        assert_eq!(Timestamp::parse_date_stamp("2015083"), None);
    }

    #[test]
    fn extreme_timestamps_print_without_overflow() {
        for seconds in [i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX] {
            let time = Timestamp::from_unix_seconds(seconds);
            assert!(!time.to_string().is_empty());
            assert!(!time.date_stamp().is_empty());
        }
        assert_eq!(Timestamp::from_unix_seconds(i64::MAX).checked_add(1), None);
    }

    #[test]
    fn civil_round_trip_over_many_days() {
        for days in (-1_000..200_000).step_by(7) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
