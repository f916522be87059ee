//! Decimal and date text in its most common forms (`-123.45`, `2025-03-01`)
//! read without the general parsers. Anything else is left to Arrow's
//! parsers: these give `None` for it, never a different value (the tests
//! compare them with Arrow's on every case).

/// `text` as a `DECIMAL(precision, scale)` when it is plain digits with an
/// optional sign and fraction (`-?d+(.d+)?`) with no more fractional digits
/// than `scale` and no more integer digits than `precision - scale`.
#[inline]
pub(crate) fn plain_decimal(text: &[u8], precision: u8, scale: i8) -> Option<i128> {
    let scale = usize::try_from(scale).ok()?;
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match digits.iter().position(|c| *c == b'.') {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, &[][..]),
    };
    let integer_room = usize::from(precision).checked_sub(scale)?;
    if whole.is_empty()
        || whole.len() > integer_room
        || fraction.len() > scale
        || (fraction.is_empty() && digits.len() != whole.len())
    {
        return None;
    }
    let mut value: i128 = 0;
    for c in whole.iter().chain(fraction) {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i128::from(c - b'0');
    }
    for _ in fraction.len()..scale {
        value *= 10;
    }
    Some(if negative { -value } else { value })
}

/// `text` as days since 1970-01-01 when it is a valid `YYYY-MM-DD` date.
#[inline]
pub(crate) fn plain_date(text: &[u8]) -> Option<i32> {
    let &[y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = text else {
        return None;
    };
    let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |cs: &[u8]| cs.iter().fold(0i32, |a, c| a * 10 + i32::from(c - b'0'));
    let (year, month, day) = (n(&digits[..4]), n(&digits[4..6]), n(&digits[6..]));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month {
        return None;
    }
    // Days from the civil date, counting years from March so that the leap
    // day ends a year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::compute::kernels::cast_utils::{parse_decimal, Parser};
    use arrow::datatypes::{Date32Type, Decimal128Type};

    #[test]
    fn plain_dates_read_as_arrow_reads_them() {
        let mut day = Date32Type::parse("1600-01-01").unwrap();
        let last = Date32Type::parse("2400-12-31").unwrap();
        let mut checked = 0;
        for year in 1600..=2400 {
            for month in 1..=12 {
                for d in 1..=31 {
                    let text = format!("{year:04}-{month:02}-{d:02}");
                    let arrow = Date32Type::parse(&text);
                    assert_eq!(plain_date(text.as_bytes()), arrow, "{text}");
                    if arrow.is_some() {
                        assert_eq!(arrow, Some(day), "{text}");
                        day += 1;
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(day, last + 1);
        assert!(checked > 290_000);
        for text in [
            "2025-00-10",
            "2025-13-01",
            "2025-01-00",
            "2025-1-01",
            "2025/01/01",
            "+025-01-01",
        ] {
            assert_eq!(plain_date(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn plain_decimals_read_as_arrow_reads_them() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        let alphabet = b"0123456789012345678901234567890123456789.-+e ";
        let mut read = 0;
        for _ in 0..200_000 {
            let len = next() % 24;
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[next() % alphabet.len()])
                .collect();
            let text = String::from_utf8(text).unwrap();
            let (precision, scale) = [(18, 2), (5, 2), (38, 10), (10, 0), (3, 3)][next() % 5];
            if let Some(v) = plain_decimal(text.as_bytes(), precision, scale) {
                let arrow = parse_decimal::<Decimal128Type>(&text, precision, scale);
                assert_eq!(arrow.ok(), Some(v), "{text} ({precision}, {scale})");
                read += 1;
            }
        }
        assert!(read > 1000, "{read}");
        for (text, v) in [
            ("-0.5", -50),
            ("12", 1200),
            ("0.07", 7),
            ("99999.99", 9_999_999),
        ] {
            assert_eq!(plain_decimal(text.as_bytes(), 7, 2), Some(v), "{text}");
        }
        for text in ["1.005", "123456.0", ".5", "5.", "-", "", "1e2", " 1", "1-2"] {
            assert_eq!(plain_decimal(text.as_bytes(), 7, 2), None, "{text}");
        }
    }
}
