//! The checks that validate a rule's candidates: checksums, number rules,
//! parsing, and context words where the shape alone is not enough.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::context::{BIRTH_CONTEXT, SSN_CONTEXT, has_context, near, next_char, prev_char};
use super::{Hit, checksum};

/// The ASCII digits of a candidate, without allocating (checks run on
/// every number in a text). More than [`Digits::CAP`] digits read as
/// exactly `CAP + 1` of them: too many for any rule.
pub(super) struct Digits {
    buf: [u8; Digits::CAP + 1],
    len: usize,
}

impl Digits {
    const CAP: usize = 24;
}

impl std::ops::Deref for Digits {
    type Target = str;

    fn deref(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

pub(super) fn digits_of(s: &str) -> Digits {
    let mut d = Digits { buf: [b'0'; Digits::CAP + 1], len: 0 };
    for b in s.bytes().filter(u8::is_ascii_digit) {
        if d.len > Digits::CAP {
            break;
        }
        d.buf[d.len] = b;
        d.len += 1;
    }
    d
}

/// Up to `n` bytes of `text` before `at`.
pub(super) fn preceding(text: &str, at: usize, n: usize) -> &[u8] {
    &text.as_bytes()[at.saturating_sub(n)..at]
}

pub(super) fn hit(start: usize, end: usize, score: f32) -> Option<Hit> {
    Some(Hit { start, end, score })
}

/// Literal-prefixed secrets: the shape is the proof, but a token made only of
/// letters (a word like `sk-something-long-and-readable`) is not one.
pub(super) fn check_secret(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    if s.starts_with("-----BEGIN") || s.contains("hooks.slack.com") {
        return hit(start, end, 1.0);
    }
    let body = s.trim_start_matches(|c: char| c.is_ascii_lowercase() || c == '-' || c == '_');
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let has_upper = body.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = body.bytes().any(|b| b.is_ascii_lowercase());
    if !(has_digit || (has_upper && has_lower)) {
        return None;
    }
    hit(start, end, 1.0)
}

/// A key or token said in words ("my api key is ..."): without the
/// sentence's full stop, and only with the digits or mixed case of a key
/// (so "the secret is understandability" is prose).
pub(super) fn check_spoken_key(text: &str, start: usize, end: usize) -> Option<Hit> {
    let end = start + text[start..end].trim_end_matches(['.', ',']).len();
    check_secret(text, start, end).filter(|h| h.end - h.start >= 16)
}

/// `password=...` values: anything but obvious placeholders and references.
/// Where `&name=` starts in `v`, if it does.
pub(super) fn next_parameter(v: &str) -> Option<usize> {
    v.match_indices('&').map(|(i, _)| i).find(|&i| {
        let rest = &v[i + 1..];
        let name = rest.find('=').map_or("", |eq| &rest[..eq]);
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

pub(super) fn check_assigned_secret(text: &str, start: usize, end: usize) -> Option<Hit> {
    // In a query string the value ends where the next parameter starts
    // (`password=x&user=y`); elsewhere `&` is part of it.
    let mut end = end;
    if let Some(cut) = next_parameter(&text[start..end]) {
        end = start + cut;
    }
    // A sentence's full stop is not part of the value; anything else
    // glued to it is (redacting one character too many leaks nothing).
    if end > start + 1 && text[..end].ends_with(['.', ',']) {
        end -= 1;
    }
    let v = &text[start..end];
    let lower = v.to_ascii_lowercase();
    let placeholder = v.len() < 4
        || v.chars().all(|c| c == '*' || c == 'x' || c == 'X' || c == '.' || c == '•')
        || v.starts_with("${")
        || v.starts_with("{{")
        || variable_reference(v)
        || v.starts_with('<')
        || v.starts_with('[')
        || (v.starts_with('(') && v.ends_with(')'))
        || v.starts_with("os.")
        || v.starts_with("process.env")
        || v.starts_with("env(")
        || matches!(
            lower.as_str(),
            "null"
                | "none"
                | "true"
                | "false"
                | "required"
                | "optional"
                | "string"
                | "redacted"
                | "undefined"
                | "empty"
                | "your_password"
                | "yourpassword"
                | "password"
                | "changeme"
                | "example"
                | "placeholder"
                | "secret"
                | "hidden"
                | "masked"
        );
    if placeholder {
        return None;
    }
    // Prose ("the password: requirements are...") is letters only and
    // lower-case; real values nearly always mix in something else.
    let letters_only = v.chars().all(char::is_alphabetic);
    let score = if letters_only && v.chars().all(char::is_lowercase) { 0.55 } else { 0.95 };
    hit(start, end, score)
}

/// A reference to a value kept elsewhere, not the value: `$DB_PASSWORD`,
/// `$password`, `$dbPassword`, `%PASSWORD%`, `%s`, `%(password)s`. A
/// password that merely starts with `$` or `%` mixes cases and digits
/// (`$SAsrCwn99`).
fn variable_reference(v: &str) -> bool {
    let name = |n: &str| {
        n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            && (!n.bytes().any(|c| c.is_ascii_uppercase())
                || !n.bytes().any(|c| c.is_ascii_lowercase())
                || !n.bytes().any(|c| c.is_ascii_digit()))
    };
    if let Some(rest) = v.strip_prefix('$') {
        return rest.starts_with('{') || rest.starts_with('(') || name(rest);
    }
    v.strip_prefix('%').is_some_and(|rest| {
        rest.starts_with('(')
            || matches!(rest, "s" | "d")
            || rest.strip_suffix('%').is_some_and(name)
    })
}

pub(super) fn check_email(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    // `scheme://user@host` and `scheme://user:password@host` hold a URL's
    // user (and password, which the secret rule finds), not a mailbox; an
    // address in a URL's path or query (`?to=ann@example.org`) is one.
    let token = &preceding(text, start, 256);
    let token = &token[token.iter().rposition(u8::is_ascii_whitespace).map_or(0, |i| i + 1)..];
    if let Some(i) = memchr::memmem::rfind(token, b"://")
        && !token[i + 3..].iter().any(|c| matches!(c, b'/' | b'?' | b'#'))
    {
        return None;
    }
    let (local, domain) = s.split_once('@')?;
    if local.ends_with('.') || local.contains("..") || domain.contains("..") {
        return None;
    }
    hit(start, end, 1.0)
}

pub(super) fn check_url(text: &str, start: usize, end: usize) -> Option<Hit> {
    let mut end = end;
    // Trailing punctuation belongs to the sentence, and a `)` closes prose
    // unless the URL opened one.
    loop {
        let s = &text[start..end];
        let last = s.chars().next_back()?;
        let unbalanced_paren = last == ')' && s.matches('(').count() < s.matches(')').count();
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '*' | '_')
            || unbalanced_paren
        {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    let s = &text[start..end];
    let after_scheme = s.split_once("://").map_or(s, |(_, rest)| rest);
    let host = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    if host.len() < 3 {
        return None;
    }
    hit(start, end, 0.9)
}

pub(super) fn check_ipv4(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    // Part of a longer dotted run (versions, OIDs) or glued to a word.
    if prev_char(text, start).is_some_and(|c| c == '.' || c.is_alphanumeric() || c == '-')
        || text[end..].starts_with(|c: char| c.is_alphanumeric())
        || (text[end..].starts_with('.')
            && text[end + 1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return None;
    }
    if addr.split('.').any(|octet| octet.len() > 1 && octet.starts_with('0')) {
        return None;
    }
    addr.parse::<Ipv4Addr>().ok()?;
    if prefix.is_some_and(|p| p.parse::<u8>().map_or(true, |p| p > 32)) {
        return None;
    }
    let before = preceding(text, start, 24).to_ascii_lowercase();
    let versiony = [
        "version", "ver.", "release", "build", "firmware", "v", "sdk", "chrome/", "firefox/",
        "python ", "node ",
    ]
    .iter()
    .any(|w| {
        let w = w.as_bytes();
        before.trim_ascii_end().ends_with(w)
            || memchr::memchr_iter(w[0], &before)
                .any(|i| before[i..].starts_with(w) && before.get(i + w.len()) == Some(&b' '))
    });
    hit(start, end, if versiony { 0.3 } else { 0.95 })
}

pub(super) fn check_ipv6(text: &str, start: usize, end: usize) -> Option<Hit> {
    if prev_char(text, start).is_some_and(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_')
        || next_char(text, end).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let s = &text[start..end];
    let addr = s.split('%').next().unwrap_or(s);
    let colons = addr.matches(':').count();
    let groups = addr.split(':').filter(|g| !g.is_empty()).count();
    if groups < 2 || (colons < 3 && !addr.bytes().any(|b| b.is_ascii_digit())) {
        return None;
    }
    // Clock times (12:30:45) have no hex letters and parse only by accident.
    if !addr.contains("::") && colons < 7 && !addr.contains('.') {
        return None;
    }
    addr.parse::<Ipv6Addr>().ok()?;
    hit(start, end, 0.95)
}

pub(super) fn check_iban(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    let head = s.as_bytes().get(..2)?;
    let country = [head[0].to_ascii_uppercase(), head[1].to_ascii_uppercase()];
    let want = checksum::iban_length(std::str::from_utf8(&country).ok()?)?;
    // Take exactly the country's length of characters; a following word in
    // upper case may have been swallowed by the regex.
    let mut taken = 0;
    let mut cut = None;
    for (i, c) in s.char_indices() {
        if c != ' ' {
            taken += 1;
            if taken == want {
                cut = Some(i + c.len_utf8());
                break;
            }
        }
    }
    let cut = cut?;
    let candidate = &s[..cut];
    if next_char(text, start + cut).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    if !checksum::iban_valid(candidate) {
        return None;
    }
    hit(start, start + cut, 1.0)
}

pub(super) fn check_card(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    let owned = digits_of(s);
    let digits: &str = &owned;
    // Maestro issues 12-digit cards; other brands start at 13.
    let short = digits.len() == 12;
    if !(12..=19).contains(&digits.len()) || !checksum::luhn_valid(digits) {
        return None;
    }
    if digits.bytes().all(|b| b == digits.as_bytes()[0]) {
        return None;
    }
    let has_space = s.contains(' ');
    let has_dash = s.contains('-');
    if has_space && has_dash {
        return None;
    }
    let groups: Vec<usize> = s.split([' ', '-']).map(str::len).collect();
    let separated = groups.len() > 1;
    if separated {
        // Groups of four with a separator lost (as OCR and hand typing
        // do: `45391488 0343 6467`) are still a 16-digit card's groups.
        let card_like = matches!(
            groups.as_slice(),
            [4, 4, 4, 4] | [4, 4, 4, 4, 3] | [4, 6, 5] | [4, 6, 4] | [4, 4, 4, 4, 1..=3]
        ) || (digits.len() == 16 && groups.iter().all(|g| g % 4 == 0))
            || (short && groups == [4, 4, 4]);
        if !card_like {
            return None;
        }
    }
    if !(if short { maestro_prefix(digits) } else { known_card_prefix(digits) }) {
        return None;
    }
    // The label of this value is on its own line: a "Phone:" on the line
    // above does not make the card number on this one an identifier.
    let before = preceding(text, start, 32);
    let before = memchr::memrchr(b'\n', before).map_or(before, |i| &before[i + 1..]);
    let before = before.to_ascii_lowercase();
    let says = |w: &str| memchr::memmem::find(&before, w.as_bytes()).is_some();
    let id_like = !says("card")
        && ["order", "tracking", "invoice", "id:", "id ", "#", "ref", "account no", "phone", "tel"]
            .iter()
            .any(|w| says(w));
    let score = match (separated, id_like) {
        (_, true) => 0.35,
        // Twelve bare digits are as often an id: a card only in context.
        (false, false) if short => 0.45,
        (true, false) => 0.95,
        (false, false) => 0.8,
    };
    hit(start, end, score)
}

/// Maestro's issuer prefixes, the one brand with 12-digit cards.
fn maestro_prefix(d: &str) -> bool {
    let p = |k: usize| d.get(..k).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    matches!(p(4), 5018 | 5020 | 5038 | 6304 | 6390 | 6759 | 6761..=6763)
        || (56..=58).contains(&p(2))
}

/// Issuer prefixes (IIN ranges) of the major networks, with their lengths.
pub(super) fn known_card_prefix(d: &str) -> bool {
    let n = d.len();
    let p = |k: usize| d.get(..k).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    match d.as_bytes()[0] {
        b'4' => matches!(n, 13 | 16 | 19),
        b'5' => {
            (51..=55).contains(&p(2)) && n == 16
                || (p(2) == 50 || (56..=58).contains(&p(2))) && (12..=19).contains(&n)
        }
        // Mastercard's 2-series, and JCB's 15-digit cards.
        b'2' => (2221..=2720).contains(&p(4)) && n == 16 || p(4) == 2131 && n == 15,
        b'3' => {
            (matches!(p(2), 34 | 37) && n == 15)
                || ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39))
                    && (14..=19).contains(&n)
                // JCB: 3528-3589 assigned, the rest of 35 reserved for it.
                || p(2) == 35 && (16..=19).contains(&n)
        }
        b'6' => {
            (p(4) == 6011
                || p(2) == 65
                || (644..=649).contains(&p(3))
                || (622126..=622925).contains(&p(6)))
                && (16..=19).contains(&n)
                || p(2) == 62 && (16..=19).contains(&n)
                || matches!(p(2), 60 | 63 | 67 | 68 | 69) && (12..=19).contains(&n)
        }
        b'1' => n == 15 && p(1) == 1,
        _ => false,
    }
}

pub(super) fn check_ssn(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    if prev_char(text, start).is_some_and(|c| matches!(c, '-' | '.' | '/' | '+'))
        || text[end..].starts_with(['-', '/'])
        || (text[end..].starts_with('.')
            && text[end + 1..].starts_with(|c: char| c.is_ascii_digit()))
    {
        return None;
    }
    let owned = digits_of(s);
    let d: &str = &owned;
    let area: u16 = d.get(..3)?.parse().ok()?;
    let group: u8 = d.get(3..5)?.parse().ok()?;
    let serial: u16 = d.get(5..9)?.parse().ok()?;
    if !checksum::ssn_valid(area, group, serial) {
        return None;
    }
    let context = has_context(text, start, end, &SSN_CONTEXT);
    let score = if s.contains('-') {
        0.85
    } else if context {
        // Spaced or bare nine digits are SSNs only when the text says so;
        // the context boost then lifts them.
        0.6
    } else {
        return None;
    };
    hit(start, end, score)
}

pub(super) fn check_crypto(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    if let Some(hex) = s.strip_prefix("0x") {
        let mixed = hex.bytes().any(|b| b.is_ascii_lowercase())
            && hex.bytes().any(|b| b.is_ascii_uppercase());
        if mixed && !checksum::eip55_valid(s) {
            return None;
        }
        return hit(start, end, if mixed { 1.0 } else { 0.85 });
    }
    if checksum::bech32_checksum(s).is_some() || checksum::base58check_address_valid(s) {
        return hit(start, end, 1.0);
    }
    None
}

pub(super) fn check_birth_date(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    if !valid_date(s) {
        return None;
    }
    // Only dates of birth: a date with a birth word near it.
    // Wide enough to reach a CSV header or a form label above the value.
    let label = text[..start].trim_end();
    let near = near(text, start, end, (160, 12), &BIRTH_CONTEXT)
        || label.ends_with("b.")
        || label.ends_with("B.");
    if !near {
        return None;
    }
    hit(start, end, 0.85)
}

pub(super) fn valid_date(s: &str) -> bool {
    let numbers: Vec<u32> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    let year_ok = |y: u32| (1900..=2100).contains(&y) || y < 100;
    match numbers.as_slice() {
        [a, b, c] if *a >= 1000 => year_ok(*a) && (1..=12).contains(b) && (1..=31).contains(c),
        [a, b, c] => {
            year_ok(*c) && (1..=31).contains(a) && (1..=31).contains(b) && (*a <= 12 || *b <= 12)
        }
        [day, year] => (1..=31).contains(day) && year_ok(*year),
        _ => false,
    }
}
