//! Money is integer micro-USD (`i64`). These convert it to and from the
//! decimal strings people type and read, without floats.

/// Micro-USD per USD.
pub const MICRO: i64 = 1_000_000;

/// Micro-USD as a decimal USD string (`1234` → `"0.001234"`).
pub fn format_usd(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let abs = micro.unsigned_abs();
    format!("{sign}{}.{:06}", abs / MICRO as u64, abs % MICRO as u64)
}

/// Parses `"10"`, `"0.05"`, `"12.345678"`, `"-1.5"` exactly; more than six
/// decimals, other characters or overflow are refused.
pub fn parse_usd(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !valid(whole) || !valid(frac) {
        return Err(format!("`{text}` is not an amount in USD"));
    }
    if frac.len() > 6 {
        return Err(format!("`{text}` has more than 6 decimals (micro-USD)"));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| format!("`{text}` is too large"))?
    };
    let frac_micro: i64 =
        format!("{frac:0<6}").parse().map_err(|_| format!("`{text}` is not an amount"))?;
    let micro = whole
        .checked_mul(MICRO)
        .and_then(|w| w.checked_add(frac_micro))
        .ok_or_else(|| format!("`{text}` is too large"))?;
    Ok(if negative { -micro } else { micro })
}

/// Config prices and amounts are TOML floats; this rounds them to micro-USD.
pub fn usd_f64_to_micro(usd: f64) -> i64 {
    (usd * MICRO as f64).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_exactly() {
        assert_eq!(format_usd(0), "0.000000");
        assert_eq!(format_usd(1_234), "0.001234");
        assert_eq!(format_usd(12_000_001), "12.000001");
        assert_eq!(format_usd(-5), "-0.000005");
    }

    #[test]
    fn parses_exactly_and_refuses_junk() {
        assert_eq!(parse_usd("10").unwrap(), 10_000_000);
        assert_eq!(parse_usd("0.05").unwrap(), 50_000);
        assert_eq!(parse_usd(".5").unwrap(), 500_000);
        assert_eq!(parse_usd("-1.000001").unwrap(), -1_000_001);
        assert!(parse_usd("1.0000001").is_err());
        assert!(parse_usd("ten").is_err());
        assert!(parse_usd("").is_err());
        assert!(parse_usd("1e3").is_err());
        assert!(parse_usd("99999999999999999999").is_err());
        for micro in [0, 1, 999_999, 1_000_000, 123_456_789] {
            assert_eq!(parse_usd(&format_usd(micro)).unwrap(), micro);
        }
    }
}
