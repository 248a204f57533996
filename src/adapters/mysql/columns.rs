//! Reading column values whatever type the server chose to send.
//!
//! MySQL and MariaDB disagree on column types across releases (binary strings
//! in `SHOW` and `information_schema`, sizes as signed, unsigned, decimal or
//! text), so each reader tries the typed decoders and falls back to the raw
//! bytes rather than failing the whole job on one odd column.

use sqlx::mysql::MySqlRow;
use sqlx::Row as _;

/// Reads a text column whatever its declared type: MariaDB reports some
/// `SHOW` and `information_schema` columns as binary strings, which the
/// typed `String` decoder refuses.
pub(super) fn text_at(row: &MySqlRow, index: usize) -> Option<String> {
    match row.try_get::<Option<String>, _>(index) {
        Ok(value) => value,
        Err(_) => row
            .try_get_unchecked::<Option<Vec<u8>>, _>(index)
            .ok()
            .flatten()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Reads a byte count whatever numeric type the server chose (signed,
/// unsigned, decimal or text); `None` when it is NULL or not a number.
pub(super) fn size_at(row: &MySqlRow, index: usize) -> Option<i64> {
    if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
        return value;
    }
    if let Ok(value) = row.try_get::<Option<u64>, _>(index) {
        return value.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    }
    if let Ok(value) = row.try_get::<Option<f64>, _>(index) {
        return value.and_then(float_to_i64);
    }
    row.try_get_unchecked::<Option<Vec<u8>>, _>(index)
        .ok()
        .flatten()
        .and_then(|bytes| parse_size_text(&String::from_utf8_lossy(&bytes)))
}

fn float_to_i64(value: f64) -> Option<i64> {
    // `as` saturates at the i64 bounds, which is the clamping wanted here.
    value.is_finite().then_some(value.trunc() as i64)
}

fn parse_size_text(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(v) = text.parse::<i64>() {
        return Some(v);
    }
    if let Ok(v) = text.parse::<u64>() {
        return Some(i64::try_from(v).unwrap_or(i64::MAX));
    }
    text.parse::<f64>().ok().and_then(float_to_i64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parse_size_text_table() {
        fn check(text: &str, expected: Option<i64>) {
            assert_eq!(parse_size_text(text), expected, "text {text:?}");
        }
        check("123", Some(123));
        check(" 42 ", Some(42));
        check("-5", Some(-5));
        check("1.5e3", Some(1500));
        check("65536.0", Some(65536));
        check("18446744073709551615", Some(i64::MAX));
        check("", None);
        check("abc", None);
        check("NaN", None);
        check("inf", None);
    }
}
