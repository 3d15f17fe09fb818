//! Phone numbers: international numbers by their calling code, North
//! American grouping, national formats with a trunk prefix, extensions;
//! dates and versions that look like them are not ones.

use super::Hit;
use super::checks::{digits_of, hit};
use super::context::{PHONE_CONTEXT, has_context, next_char, prev_char};

/// Country calling codes (ITU E.164), one to three digits.
pub(super) fn calling_code_len(d: &str) -> Option<usize> {
    const ONE: &[&str] = &["1", "7"];
    const TWO: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if ONE.iter().any(|c| d.starts_with(c)) {
        return Some(1);
    }
    if TWO.iter().any(|c| d.starts_with(c)) {
        return Some(2);
    }
    let three: u32 = d.get(..3)?.parse().ok()?;
    let valid3 = matches!(three, 210..=299 | 350..=359 | 370..=389 | 420..=429 | 500..=509 | 590..=599 | 670..=692 | 800..=899 | 960..=998);
    valid3.then_some(3)
}

pub(super) fn check_phone(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    // Glued to something numeric or a word: part of a longer token.
    if prev_char(text, start).is_some_and(|c| {
        c.is_alphanumeric() || matches!(c, '.' | '/' | '-' | '_' | ':' | '#' | '=')
    }) || next_char(text, end).is_some_and(|c| c.is_alphanumeric() || c == '_')
        || (text[end..].starts_with(['.', '-', '/', ':'])
            && text[end + 1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return None;
    }
    // An extension ("x204", " ext. 12") is part of the finding, not of the
    // number the rules below read.
    let s = without_extension(s);
    let owned = digits_of(s);
    let d: &str = &owned;
    if !(7..=15).contains(&d.len()) || d.bytes().all(|b| b == d.as_bytes()[0]) {
        return None;
    }
    let mut separators = s.bytes().filter(|b| matches!(b, b' ' | b'.' | b'-' | b'/'));
    let (has_separator, only_dots) = match separators.next() {
        Some(first) => (true, first == b'.' && separators.all(|b| b == b'.')),
        None => (false, true),
    };
    // Dates, times, versions and decimal numbers are not phone numbers.
    if (looks_like_date(s)
        || (only_dots && s.bytes().filter(|&b| b == b'.').count() >= 2 && !s.starts_with('+')))
        && !s.starts_with('+')
        && d.len() < 10
    {
        return None;
    }
    let score = if s.starts_with('+') || s.starts_with("00") {
        let international = if s.starts_with('+') { d } else { &d[2..] };
        let cc = calling_code_len(international)?;
        if !(8..=15).contains(&international.len()) || international.len() - cc < 6 {
            return None;
        }
        if s.starts_with('+') { 0.9 } else { 0.6 }
    } else if is_nanp(s) {
        if nanp_plausible(s) { 0.8 } else { 0.6 }
    } else if d.starts_with('0') && has_separator && (9..=12).contains(&d.len()) {
        // National format with a trunk prefix: 030 1234567, 06 12 34 56 78.
        0.65
    } else if (7..=12).contains(&d.len()) && has_context(text, start, end, &PHONE_CONTEXT) {
        0.45
    } else {
        return None;
    };
    hit(start, end, score)
}

/// `s` without a phone extension at its end ("x204", " ext. 12",
/// " extension 7"), or all of `s` when it has none.
pub(super) fn without_extension(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = b.len();
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=6).contains(&digits) {
        return s;
    }
    i -= digits;
    i -= usize::from(i > 0 && matches!(b[i - 1], b' ' | b'\t'));
    i -= usize::from(i > 0 && b[i - 1] == b'.');
    let head = &s[..i];
    let ends_with = |w: &str| {
        head.len() >= w.len()
            && head.as_bytes()[head.len() - w.len()..].eq_ignore_ascii_case(w.as_bytes())
    };
    let Some(word) = ["extension", "extn", "ext", "x"].into_iter().find(|w| ends_with(w)) else {
        return s;
    };
    let number = head[..head.len() - word.len()].trim_end_matches([' ', '\t', ',']);
    if number.ends_with(|c: char| c.is_ascii_digit() || c == ')') { number } else { s }
}

/// North American format: (AAA) EEE-SSSS, AAA-EEE-SSSS, AAA.EEE.SSSS.
/// The grouping is the evidence; [`nanp_plausible`] says whether the
/// digits are also a number the plan could assign.
pub(super) fn is_nanp(s: &str) -> bool {
    let owned = digits_of(s);
    let d: &str = &owned;
    let d = d.strip_prefix('1').filter(|_| d.len() == 11).unwrap_or(d);
    if d.len() != 10 {
        return false;
    }
    let mut groups = [0_usize; 5];
    let mut n = 0;
    for g in s.split([' ', '.', '-', '(', ')']).filter(|g| !g.is_empty()) {
        if n == groups.len() {
            return false;
        }
        groups[n] = g.len();
        n += 1;
    }
    matches!(&groups[..n], [3, 3, 4] | [1, 3, 3, 4])
}

/// Whether a North American number's area code and exchange start with 2-9,
/// as the numbering plan assigns them.
fn nanp_plausible(s: &str) -> bool {
    let owned = digits_of(s);
    let d: &str = &owned;
    let b = d.strip_prefix('1').filter(|_| d.len() == 11).unwrap_or(d).as_bytes();
    b.len() == 10 && (b'2'..=b'9').contains(&b[0]) && (b'2'..=b'9').contains(&b[3])
}

pub(super) fn looks_like_date(s: &str) -> bool {
    let mut split = s.split(['-', '.', '/', ' ']);
    let (Some(a), Some(b), Some(c), None) =
        (split.next(), split.next(), split.next(), split.next())
    else {
        return false;
    };
    let parts = [a, b, c];
    let mut n = [0_u32; 3];
    for (n, p) in n.iter_mut().zip(parts) {
        let Ok(v) = p.parse() else { return false };
        *n = v;
    }
    (parts[0].len() == 4 && (1..=12).contains(&n[1]) && (1..=31).contains(&n[2]))
        || (parts[2].len() == 4 && (1..=31).contains(&n[0]) && (1..=31).contains(&n[1]))
}
