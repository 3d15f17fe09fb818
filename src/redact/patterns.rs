//! Pattern recognizers: every structured entity of DESIGN §6, each a regex
//! that finds candidates and a check that validates them (checksums, number
//! rules, parsing, context words), so look-alikes are not redacted.
//!
//! Regexes use ASCII word boundaries and digit classes, which the regex
//! crate's DFA runs without falling back on non-ASCII text; rules that start
//! with a literal (`sk-`, `AKIA`, `0x`, ...) are found through the crate's
//! literal prefilters, so adding one costs almost nothing. Context words
//! (`phone`, `born`, `ssn`, ...) are looked up only around candidates.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::Regex;

use super::checksum;
use super::entity::{Entity, EntitySet, Finding, Source};
use super::{RedactError, Redactor};

/// A validated candidate: where it is (it may be narrower than the regex
/// match) and how sure the rule is.
struct Hit {
    start: usize,
    end: usize,
    score: f32,
}

/// Validates one candidate `text[start..end]`.
type Check = fn(&str, usize, usize) -> Option<Hit>;

struct Rule {
    entity: Entity,
    regex: Regex,
    /// Capture group holding the value (0: the whole match).
    group: usize,
    check: Check,
    /// Words near a candidate that raise its score.
    context: &'static ContextWords,
    /// Candidates are runs of number groups that may hold several values
    /// side by side ("call +44 20 7946 0958 4111 1111 1111 1111"): when the
    /// whole run fails, its sub-runs are tried.
    split: bool,
    /// Fewest digits a value of a `split` rule has: runs with fewer are
    /// dropped without trying their sub-runs.
    min_digits: usize,
    /// The rule runs only on texts holding one of these bytes (none: always).
    needs: &'static [u8],
    /// Where in a text its regex needs to look.
    scope: Scope,
}

/// Parts of a text a rule's regex is run on: found by one cheap byte scan,
/// so the regex only reads the few places a value can be.
#[derive(Clone, Copy)]
enum Scope {
    Everywhere,
    /// Digits joined by single separators, with at least this many digits
    /// (cards, SSNs, phone numbers), plus a few bytes before for `+`, `(`.
    NumberRuns(usize),
    /// Runs of ASCII word bytes of a length in this range (crypto addresses).
    Tokens(usize, usize),
}

impl Scope {
    /// Sorted, non-overlapping byte ranges on char boundaries.
    fn regions(self, text: &str) -> Vec<(usize, usize)> {
        let b = text.as_bytes();
        let mut out: Vec<(usize, usize)> = Vec::new();
        let mut push = |start: usize, end: usize| {
            let (start, end) = (floor_boundary(text, start), ceil_boundary(text, end));
            match out.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => out.push((start, end)),
            }
        };
        let word = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        match self {
            Scope::Everywhere => push(0, b.len()),
            Scope::NumberRuns(min_digits) => {
                let mut i = 0;
                while i < b.len() {
                    if !b[i].is_ascii_digit() {
                        i += 1;
                        continue;
                    }
                    let (start, mut end, mut digits, mut j) = (i, i, 0, i);
                    while j < b.len() {
                        if b[j].is_ascii_digit() {
                            digits += 1;
                            j += 1;
                            end = j;
                            continue;
                        }
                        // Up to two separators (") ", " (") before more digits.
                        let seps =
                            b[j..].iter().take(2).take_while(|c| b" .-()/".contains(c)).count();
                        let next = b.get(j + seps);
                        if seps > 0 && next.is_some_and(|c| c.is_ascii_digit() || *c == b'(') {
                            j += seps;
                        } else {
                            break;
                        }
                    }
                    if digits >= min_digits {
                        push(start.saturating_sub(4), (end + 2).min(b.len()));
                    }
                    i = j.max(i + 1);
                }
            }
            Scope::Tokens(min, max) => {
                let mut i = 0;
                while i < b.len() {
                    if !word(i) {
                        i += 1;
                        continue;
                    }
                    let start = i;
                    while word(i) {
                        i += 1;
                    }
                    if (min..=max).contains(&(i - start)) {
                        push(start, i);
                    }
                }
            }
        }
        out
    }
}

const DIGITS: &[u8] = b"0123456789";

/// All pattern rules, compiled once.
pub struct Patterns {
    rules: Vec<Rule>,
}

const CONTEXT_BOOST: f32 = 0.2;
const CONTEXT_WINDOW: usize = 48;

const PHONE_CONTEXT_WORDS: &[&str] = &[
    "phone",
    "tel",
    "mobile",
    "cell",
    "call",
    "fax",
    "whatsapp",
    "contact",
    "reach",
    "sms",
    "text me",
    "ring",
    "number",
    "telefon",
    "teléfono",
    "telefono",
    "handy",
    "número",
    "numero",
    "tél",
    "portable",
];
const CARD_CONTEXT_WORDS: &[&str] = &[
    "card",
    "visa",
    "mastercard",
    "amex",
    "credit",
    "debit",
    "cc",
    "payment",
    "kreditkarte",
    "tarjeta",
    "carte",
];
const SSN_CONTEXT_WORDS: &[&str] =
    &["ssn", "social security", "social-security", "ss#", "ss no", "taxpayer", "tin"];
const BIRTH_CONTEXT_WORDS: &[&str] = &[
    "born",
    "birth",
    "dob",
    "d.o.b",
    "bday",
    "geboren",
    "geb.",
    "geburtsdatum",
    "né ",
    "née",
    "naissance",
    "nacimiento",
    "nacido",
    "nacida",
    "nascita",
    "nato ",
    "nata ",
    "nascimento",
    "nasceu",
    "date de naissance",
];
static PHONE_CONTEXT: ContextWords = ContextWords::new(PHONE_CONTEXT_WORDS);
static CARD_CONTEXT: ContextWords = ContextWords::new(CARD_CONTEXT_WORDS);
static SSN_CONTEXT: ContextWords = ContextWords::new(SSN_CONTEXT_WORDS);
static BIRTH_CONTEXT: ContextWords = ContextWords::new(BIRTH_CONTEXT_WORDS);
static NO_CONTEXT: ContextWords = ContextWords::new(&[]);

/// Context words, searched case-insensitively in one pass.
pub(crate) struct ContextWords {
    words: &'static [&'static str],
    searcher: OnceLock<Option<AhoCorasick>>,
}

impl ContextWords {
    const fn new(words: &'static [&'static str]) -> Self {
        Self { words, searcher: OnceLock::new() }
    }

    fn searcher(&self) -> Option<&AhoCorasick> {
        self.searcher
            .get_or_init(|| {
                // ASCII letters fold in the search; other letters are added
                // in upper and title case ("Teléfono", "TELÉFONO").
                let mut all: Vec<String> = Vec::new();
                for w in self.words {
                    all.push((*w).to_owned());
                    if !w.is_ascii() {
                        all.push(w.to_uppercase());
                        let mut chars = w.chars();
                        if let Some(first) = chars.next() {
                            all.push(first.to_uppercase().chain(chars).collect());
                        }
                    }
                }
                AhoCorasick::builder().ascii_case_insensitive(true).build(all).ok()
            })
            .as_ref()
    }
}

impl Patterns {
    pub fn new() -> Result<Self, regex::Error> {
        let months = "jan(?:uary|vier|uar|eiro)?|feb(?:ruary|ruar)?|f[ée]v(?:rier)?|fevereiro|mar(?:ch|s|zo|ço)?|m[äa]rz|apr(?:il)?|avr(?:il)?|abr(?:il)?|may|mai|mayo|maio|maggio|jun(?:e|i|io|ho)?|juin|giugno|jul(?:y|i|io|ho)?|juil(?:let)?|luglio|aug(?:ust)?|ao[uû]t|ago(?:sto)?|sep(?:t|tember|tiembre|tembro)?|sett(?:embre)?|oct(?:ober|obre)?|okt(?:ober)?|out(?:ubro)?|ott(?:obre)?|nov(?:ember|embre|embro)?|dec(?:ember)?|d[ée]c(?:embre)?|dez(?:ember|embro)?|dic(?:iembre|embre)?|enero|ene|febrero|gennaio";
        let date = format!(
            r"(?i)\b(?:\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{2,4}}|\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s+(?:of\s+|de\s+)?(?:{months})\.?,?\s+(?:de\s+)?\d{{4}}|(?:{months})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b"
        );
        let secret_literals = [
            r"\bsk-ant-[A-Za-z0-9_\-]{20,}",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
            r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
            r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b",
            r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
            r"\bglpat-[A-Za-z0-9_\-]{20,}\b",
            r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
            r"\bwhsec_[A-Za-z0-9+/=]{20,}",
            r"\bxox[abposre]-[A-Za-z0-9\-]{10,}",
            r"\bhttps://hooks\.slack\.com/services/[A-Za-z0-9/_\-]+",
            r"\bAIza[0-9A-Za-z_\-]{35}",
            r"\bya29\.[0-9A-Za-z_\-]{20,}",
            r"\bGOCSPX-[0-9A-Za-z_\-]{20,}",
            r"\bhf_[A-Za-z0-9]{30,}\b",
            r"\bnpm_[A-Za-z0-9]{36}\b",
            r"\bvk_(?:live|test)_[A-Za-z0-9]{40}\b",
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        ]
        .join("|");
        let key_names = r"password|passwd|passphrase|pwd|pass|secret|secret[_\-]?key|api[_\-]?key|apikey|access[_\-]?key|access[_\-]?token|auth[_\-]?token|token|client[_\-]?secret|private[_\-]?key|db[_\-]?pass(?:word)?|aws_secret_access_key";
        let rules = vec![
            rule(Entity::Secret, &secret_literals, 0, check_secret, &NO_CONTEXT)?,
            rule(
                Entity::Secret,
                &format!(
                    r#"(?i)(?:\b|_)(?:{key_names})["']?\s*(?::=|=>|[:=])\s*["']?([^\s"',;<>`]{{4,}})"#
                ),
                1,
                check_assigned_secret,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::Secret,
                r#"(?i)\b(?:password|passcode|pin)\s+(?:is|was|=)\s+["']?([^\s"',;]{4,})"#,
                1,
                check_assigned_secret,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::Secret,
                r"(?i)\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@]{1,64}:([^\s@/]{1,128})@",
                1,
                check_assigned_secret,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::Secret,
                r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{20,}=*)",
                1,
                check_secret,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::EmailAddress,
                r"(?i)\b[a-z0-9][a-z0-9._%+\-]{0,63}@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b",
                0,
                check_email,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::Url,
                r#"(?i)\b(?:(?:https?|ftp|wss?)://|www\.)[^\s<>"'`{}|\\^\[\]]+"#,
                0,
                check_url,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::IpAddress,
                r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?\b",
                0,
                check_ipv4,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::IpAddress,
                r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:\d{1,3}(?:\.\d{1,3}){3})?(?:%[0-9a-z]+)?",
                0,
                check_ipv6,
                &NO_CONTEXT,
            )?,
            rule(
                Entity::IbanCode,
                r"(?i)\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,8}(?: ?[a-z0-9]{1,4})?\b",
                0,
                check_iban,
                &NO_CONTEXT,
            )?,
            rule(Entity::CreditCard, r"\b\d(?:[ \-]?\d){11,18}\b", 0, check_card, &CARD_CONTEXT)?,
            rule(
                Entity::UsSsn,
                r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b|\b\d{9}\b",
                0,
                check_ssn,
                &SSN_CONTEXT,
            )?,
            rule(
                Entity::PhoneNumber,
                r"(?:\+|\b00)?(?:\(\d{1,5}\)|\b\d{1,5})(?:[ .\-]?\(\d{1,5}\)|[ .\-]?\d{1,6}){1,6}\b",
                0,
                check_phone,
                &PHONE_CONTEXT,
            )?,
            rule(
                Entity::Crypto,
                r"\b0x[0-9a-fA-F]{40}\b|(?i:\b(?:bc|tb|ltc)1[02-9ac-hj-np-z]{8,87}\b)|\b[13LMmn2][1-9A-HJ-NP-Za-km-z]{25,34}\b",
                0,
                check_crypto,
                &NO_CONTEXT,
            )?,
            rule(Entity::DateTime, &date, 0, check_birth_date, &BIRTH_CONTEXT)?,
        ];
        Ok(Self { rules })
    }

    /// The entity types these rules can find.
    pub fn entities(&self) -> EntitySet {
        self.rules.iter().map(|r| r.entity).collect()
    }
}

fn rule(
    entity: Entity,
    pattern: &str,
    group: usize,
    check: Check,
    context: &'static ContextWords,
) -> Result<Rule, regex::Error> {
    // ASCII `\b` and `\d` keep the regex on its DFA paths for any input.
    let pattern = pattern.replace(r"\b", r"(?-u:\b)").replace(r"\d", "[0-9]");
    let regex = regex::RegexBuilder::new(&pattern).size_limit(32 << 20).build()?;
    let min_digits = match entity {
        Entity::CreditCard => 13,
        Entity::UsSsn => 9,
        Entity::PhoneNumber => 7,
        _ => 0,
    };
    let split = min_digits > 0;
    let scope = match entity {
        _ if split => Scope::NumberRuns(min_digits),
        Entity::Crypto => Scope::Tokens(11, 91),
        _ => Scope::Everywhere,
    };
    let needs: &[u8] = match entity {
        Entity::EmailAddress => b"@",
        // IPv6 may be all letters ("dead:beef::cafe").
        Entity::IpAddress => b"0123456789:",
        Entity::IbanCode
        | Entity::CreditCard
        | Entity::UsSsn
        | Entity::PhoneNumber
        | Entity::Crypto
        | Entity::DateTime => DIGITS,
        _ => b"",
    };
    Ok(Rule { entity, regex, group, check, context, split, min_digits, needs, scope })
}

/// Validated values inside `start..end`, trying sub-runs that start and end
/// at group boundaries: leftmost first, longest first.
fn split_hits(text: &str, start: usize, end: usize, check: Check) -> Vec<Hit> {
    let s = &text[start..end];
    let mut starts = vec![0];
    let mut ends = Vec::new();
    for (i, c) in s.char_indices() {
        if matches!(c, ' ' | '-' | '.') {
            ends.push(i);
            starts.push(i + 1);
        }
    }
    ends.push(s.len());
    let mut hits = Vec::new();
    let mut from = 0;
    for &a in &starts {
        if a < from {
            continue;
        }
        for &b in ends.iter().rev() {
            if b <= a {
                break;
            }
            if let Some(hit) = check(text, start + a, start + b) {
                from = hit.end - start;
                hits.push(hit);
                break;
            }
        }
    }
    hits
}

impl Redactor for Patterns {
    fn find(
        &self,
        text: &str,
        wanted: EntitySet,
        out: &mut Vec<Finding>,
    ) -> Result<(), RedactError> {
        let mut present = [false; 256];
        for &b in text.as_bytes() {
            present[usize::from(b)] = true;
        }
        let runs = |r: &&Rule| {
            wanted.contains(r.entity)
                && (r.needs.is_empty() || r.needs.iter().any(|&b| present[usize::from(b)]))
        };
        for rule in self.rules.iter().filter(runs) {
            let mut push = |hits: Vec<Hit>| {
                for hit in hits {
                    let mut score = hit.score;
                    if score < 1.0 && has_context(text, hit.start, hit.end, rule.context) {
                        score = (score + CONTEXT_BOOST).min(1.0);
                    }
                    out.push(Finding::new(rule.entity, hit.start, hit.end, score, Source::Pattern));
                }
            };
            for (from, to) in rule.scope.regions(text) {
                // The regex sees the text up to the region's end, and what
                // lies before its start (for `\b`).
                let hay = &text[..to];
                let mut pos = from;
                while pos < to {
                    let (start, end, next) = if rule.group == 0 {
                        let Some(m) = rule.regex.find_at(hay, pos) else { break };
                        (m.start(), m.end(), m.end())
                    } else {
                        let Some(caps) = rule.regex.captures_at(hay, pos) else { break };
                        let whole = caps.get(0).map_or((pos, to), |m| (m.start(), m.end()));
                        match caps.get(rule.group) {
                            Some(m) => (m.start(), m.end(), whole.1),
                            None => {
                                pos = whole.1.max(pos + 1);
                                continue;
                            }
                        }
                    };
                    if !rule.split {
                        push((rule.check)(text, start, end).into_iter().collect());
                        pos = if next > pos { next } else { ceil_boundary(text, pos + 1) };
                        continue;
                    }
                    // Number runs: a failed candidate is retried from its
                    // next group, so a value glued to another is still found.
                    let run = &text[start..end];
                    if run.bytes().filter(u8::is_ascii_digit).count() < rule.min_digits {
                        pos = end;
                        continue;
                    }
                    let hits = match (rule.check)(text, start, end) {
                        Some(hit) => vec![hit],
                        None => split_hits(text, start, end, rule.check),
                    };
                    pos = match hits.last() {
                        Some(last) => last.end,
                        None => run.find([' ', '-', '.']).map_or(end, |i| start + i + 1),
                    };
                    push(hits);
                }
            }
        }
        Ok(())
    }
}

// ---- context -------------------------------------------------------------

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i.min(text.len())
}

/// Lower-cased text just before `start` (and a little after `end`).
fn window(text: &str, start: usize, end: usize, before: usize, after: usize) -> String {
    let from = floor_boundary(text, start.saturating_sub(before));
    let to = ceil_boundary(text, (end + after).min(text.len()));
    let mut w = text[from..start].to_lowercase();
    w.push(' ');
    w.push_str(&text[end..to].to_lowercase());
    w
}

/// A context word shortly before `start` or just after `end`, not glued to
/// letters on its left (so "tel" does not match "hotel").
fn has_context(text: &str, start: usize, end: usize, words: &ContextWords) -> bool {
    near(text, start, end, (CONTEXT_WINDOW, 16), words)
}

/// A context word within `before` bytes before `start` or `after` bytes
/// after `end`.
fn near(
    text: &str,
    start: usize,
    end: usize,
    (before, after): (usize, usize),
    words: &ContextWords,
) -> bool {
    let Some(searcher) = words.searcher() else { return false };
    let from = floor_boundary(text, start.saturating_sub(before));
    let to = ceil_boundary(text, (end + after).min(text.len()));
    [&text[from..start], &text[end..to]].into_iter().any(|region| {
        searcher
            .find_overlapping_iter(region)
            .any(|m| !region[..m.start()].chars().next_back().is_some_and(char::is_alphanumeric))
    })
}

fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// The ASCII digits of a candidate, without allocating (checks run on
/// every number in a text). More than [`Digits::CAP`] digits read as
/// exactly `CAP + 1` of them: too many for any rule.
struct Digits {
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

fn digits_of(s: &str) -> Digits {
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

fn hit(start: usize, end: usize, score: f32) -> Option<Hit> {
    Some(Hit { start, end, score })
}

// ---- checks ----------------------------------------------------------------

/// Literal-prefixed secrets: the shape is the proof, but a token made only of
/// letters (a word like `sk-something-long-and-readable`) is not one.
fn check_secret(text: &str, start: usize, end: usize) -> Option<Hit> {
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

/// `password=...` values: anything but obvious placeholders and references.
/// Where `&name=` starts in `v`, if it does.
fn next_parameter(v: &str) -> Option<usize> {
    v.match_indices('&').map(|(i, _)| i).find(|&i| {
        let rest = &v[i + 1..];
        let name = rest.find('=').map_or("", |eq| &rest[..eq]);
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn check_assigned_secret(text: &str, start: usize, end: usize) -> Option<Hit> {
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
        || v.starts_with('$')
        || v.starts_with('%')
        || v.starts_with('<')
        || v.starts_with('[')
        || v.starts_with('(')
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

fn check_email(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    // `scheme://user@host` is a URL's user, not a mailbox.
    if text[..start].ends_with("://") {
        return None;
    }
    let (local, domain) = s.split_once('@')?;
    if local.ends_with('.') || local.contains("..") || domain.contains("..") {
        return None;
    }
    hit(start, end, 1.0)
}

fn check_url(text: &str, start: usize, end: usize) -> Option<Hit> {
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

fn check_ipv4(text: &str, start: usize, end: usize) -> Option<Hit> {
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
    let before = window(text, start, start, 24, 0);
    let versiony = [
        "version", "ver.", "release", "build", "firmware", "v", "sdk", "chrome/", "firefox/",
        "python ", "node ",
    ]
    .iter()
    .any(|w| before.trim_end().ends_with(w) || before.contains(&format!("{w} ")));
    hit(start, end, if versiony { 0.3 } else { 0.95 })
}

fn check_ipv6(text: &str, start: usize, end: usize) -> Option<Hit> {
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

fn check_iban(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    let country = s.get(..2)?.to_ascii_uppercase();
    let want = checksum::iban_length(&country)?;
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

fn check_card(text: &str, start: usize, end: usize) -> Option<Hit> {
    let s = &text[start..end];
    let owned = digits_of(s);
    let digits: &str = &owned;
    if !(13..=19).contains(&digits.len()) || !checksum::luhn_valid(digits) {
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
        let card_like = matches!(
            groups.as_slice(),
            [4, 4, 4, 4] | [4, 4, 4, 4, 3] | [4, 6, 5] | [4, 6, 4] | [4, 4, 4, 4, 1..=3]
        );
        if !card_like {
            return None;
        }
    }
    if !known_card_prefix(digits) {
        return None;
    }
    let before = window(text, start, start, 32, 0);
    let id_like =
        ["order", "tracking", "invoice", "id:", "id ", "#", "ref", "account no", "phone", "tel"]
            .iter()
            .any(|w| before.contains(w));
    let score = match (separated, id_like) {
        (_, true) => 0.35,
        (true, false) => 0.95,
        (false, false) => 0.8,
    };
    hit(start, end, score)
}

/// Issuer prefixes (IIN ranges) of the major networks, with their lengths.
fn known_card_prefix(d: &str) -> bool {
    let n = d.len();
    let p = |k: usize| d.get(..k).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    match d.as_bytes()[0] {
        b'4' => matches!(n, 13 | 16 | 19),
        b'5' => {
            (51..=55).contains(&p(2)) && n == 16
                || (p(2) == 50 || (56..=58).contains(&p(2))) && (12..=19).contains(&n)
        }
        b'2' => (2221..=2720).contains(&p(4)) && n == 16,
        b'3' => {
            (matches!(p(2), 34 | 37) && n == 15)
                || ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39))
                    && (14..=19).contains(&n)
                || (3528..=3589).contains(&p(4)) && (16..=19).contains(&n)
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

fn check_ssn(text: &str, start: usize, end: usize) -> Option<Hit> {
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

/// Country calling codes (ITU E.164), one to three digits.
fn calling_code_len(d: &str) -> Option<usize> {
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

fn check_phone(text: &str, start: usize, end: usize) -> Option<Hit> {
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
    let owned = digits_of(s);
    let d: &str = &owned;
    if !(7..=15).contains(&d.len()) || d.bytes().all(|b| b == d.as_bytes()[0]) {
        return None;
    }
    let separators: Vec<char> = s.chars().filter(|c| matches!(c, ' ' | '.' | '-')).collect();
    // Dates, times, versions and decimal numbers are not phone numbers.
    if (looks_like_date(s)
        || (separators.iter().all(|c| *c == '.')
            && s.matches('.').count() >= 2
            && !s.starts_with('+')))
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
        0.8
    } else if d.starts_with('0') && !separators.is_empty() && (9..=12).contains(&d.len()) {
        // National format with a trunk prefix: 030 1234567, 06 12 34 56 78.
        0.65
    } else if (7..=12).contains(&d.len()) && has_context(text, start, end, &PHONE_CONTEXT) {
        0.45
    } else {
        return None;
    };
    hit(start, end, score)
}

/// North American format: (AAA) EEE-SSSS, AAA-EEE-SSSS, AAA.EEE.SSSS.
fn is_nanp(s: &str) -> bool {
    let owned = digits_of(s);
    let d: &str = &owned;
    let d = d.strip_prefix('1').filter(|_| d.len() == 11).unwrap_or(d);
    if d.len() != 10 {
        return false;
    }
    let b = d.as_bytes();
    let plausible = (b'2'..=b'9').contains(&b[0]) && (b'2'..=b'9').contains(&b[3]);
    let groups: Vec<usize> =
        s.split([' ', '.', '-', '(', ')']).filter(|g| !g.is_empty()).map(str::len).collect();
    plausible && matches!(groups.as_slice(), [3, 3, 4] | [1, 3, 3, 4])
}

fn looks_like_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['-', '.', '/', ' ']).collect();
    if parts.len() != 3 {
        return false;
    }
    let n: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    n.len() == 3
        && ((parts[0].len() == 4 && (1..=12).contains(&n[1]) && (1..=31).contains(&n[2]))
            || (parts[2].len() == 4 && (1..=31).contains(&n[0]) && (1..=31).contains(&n[1])))
}

fn check_crypto(text: &str, start: usize, end: usize) -> Option<Hit> {
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

fn check_birth_date(text: &str, start: usize, end: usize) -> Option<Hit> {
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

fn valid_date(s: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(Entity, String)> {
        let p = Patterns::new().unwrap();
        let mut out = Vec::new();
        p.find(text, EntitySet::all(), &mut out).unwrap();
        out.into_iter()
            .filter(|f| f.score >= 0.5)
            .map(|f| (f.entity, text[f.start..f.end].to_owned()))
            .collect()
    }

    fn finds(text: &str, entity: Entity, value: &str) {
        let got = found(text);
        assert!(
            got.iter().any(|(e, v)| *e == entity && v == value),
            "{entity} {value:?} not in {got:?} for {text:?}"
        );
    }

    fn nothing(text: &str) {
        let got = found(text);
        assert!(got.is_empty(), "{text:?} gave {got:?}");
    }

    #[test]
    fn cards_need_luhn_and_a_brand() {
        finds("card 4111 1111 1111 1111 exp 12/27", Entity::CreditCard, "4111 1111 1111 1111");
        finds("amex 3782-822463-10005", Entity::CreditCard, "3782-822463-10005");
        finds("pay with 5555555555554444 today", Entity::CreditCard, "5555555555554444");
        nothing("card 4111 1111 1111 1112");
        nothing("uuid 9b2e7f9c-1c11-4a4e-8f0e-7d5d3a0c9f11");
    }

    #[test]
    fn ssn_rules_and_context() {
        finds("SSN: 123-45-6788", Entity::UsSsn, "123-45-6788");
        finds("social security number 536 22 1234", Entity::UsSsn, "536 22 1234");
        nothing("ssn 000-12-3456 and 666-12-3456");
        nothing("order 536221234 shipped");
    }

    #[test]
    fn ips_are_parsed_not_versions() {
        finds("server at 192.168.1.20 is down", Entity::IpAddress, "192.168.1.20");
        finds("ping 2001:db8::8a2e:370:7334 now", Entity::IpAddress, "2001:db8::8a2e:370:7334");
        nothing("upgrade to version 1.2.3.4 soon");
        nothing("release 10.0.19041.1266 and 999.1.1.1");
        nothing("at 12:30:45 the call ended");
        nothing("use std::fs::File and Add::add");
    }

    #[test]
    fn iban_needs_mod97() {
        finds(
            "IBAN DE89 3704 0044 0532 0130 00 THANKS",
            Entity::IbanCode,
            "DE89 3704 0044 0532 0130 00",
        );
        finds("GB82WEST12345698765432", Entity::IbanCode, "GB82WEST12345698765432");
        nothing("GB82WEST12345698765431");
    }

    #[test]
    fn phones_in_many_formats() {
        finds("call +44 20 7946 0958 now", Entity::PhoneNumber, "+44 20 7946 0958");
        finds("Phone: (415) 555-2671", Entity::PhoneNumber, "(415) 555-2671");
        finds("tel. 030 12345678", Entity::PhoneNumber, "030 12345678");
        finds("+33 6 12 34 56 78", Entity::PhoneNumber, "+33 6 12 34 56 78");
        nothing("on 2024-03-15 at 10:30");
        nothing("total 1234567 rows");
    }

    #[test]
    fn emails_urls_crypto() {
        finds("mail jane.doe+x@example.co.uk.", Entity::EmailAddress, "jane.doe+x@example.co.uk");
        finds("see https://example.com/a?b=1).", Entity::Url, "https://example.com/a?b=1");
        finds(
            "send to 0x52908400098527886E0F7030069857D2E4169EE7",
            Entity::Crypto,
            "0x52908400098527886E0F7030069857D2E4169EE7",
        );
        finds(
            "btc 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
            Entity::Crypto,
            "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
        );
        finds(
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            Entity::Crypto,
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        );
        nothing("0x52908400098527886e0F7030069857D2E4169EE7 is a bad checksum");
        nothing("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3");
    }

    #[test]
    fn regexes_run_only_where_a_value_can_be() {
        let text = "v2.1 on 3 hosts; call (555) 123-4567 or +44 20 7946 0958, ref 12";
        let runs: Vec<&str> =
            Scope::NumberRuns(7).regions(text).into_iter().map(|(a, b)| &text[a..b]).collect();
        // Margins let the regex see "(" and "+"; touching regions merge.
        assert_eq!(runs, ["ll (555) 123-4567 or +44 20 7946 0958, "]);
        let text = "send to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq now";
        let tokens = Scope::Tokens(11, 91).regions(text);
        assert_eq!(tokens.len(), 1);
        assert!(text[tokens[0].0..tokens[0].1].starts_with("bc1q"));
        // Regions never cut a character.
        let text = "ééé 1234567 ü";
        for (a, b) in Scope::NumberRuns(7).regions(text) {
            assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
        }
    }

    #[test]
    fn assigned_secrets_keep_ampersands_outside_query_strings() {
        finds("db:\n  password: Tr0ub4dor&3\n", Entity::Secret, "Tr0ub4dor&3");
        finds("GET /login?password=hunter22&user=bob", Entity::Secret, "hunter22");
    }

    #[test]
    fn secrets_by_family() {
        finds(
            "OPENAI_API_KEY=sk-proj-AbC123dEf456GhI789jKl012",
            Entity::Secret,
            "sk-proj-AbC123dEf456GhI789jKl012",
        );
        finds("id AKIAIOSFODNN7EXAMPLE", Entity::Secret, "AKIAIOSFODNN7EXAMPLE");
        finds(
            "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            Entity::Secret,
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        );
        finds("db password=hunter2!", Entity::Secret, "hunter2!");
        finds(r#"{"password": "S3cr3t-Pa55"}"#, Entity::Secret, "S3cr3t-Pa55");
        nothing("password: ${DB_PASSWORD}");
        finds("postgres://app:Zx9-pw@db.internal/app", Entity::Secret, "Zx9-pw");
        nothing("DATABASE_URL=postgres://app@db.internal/app");
        nothing("the sk-learn-library-is-great-for-ml");
    }

    #[test]
    fn dates_only_of_birth() {
        finds("born on 14 March 1987 in", Entity::DateTime, "14 March 1987");
        finds("DOB: 1987-03-14", Entity::DateTime, "1987-03-14");
        nothing("deployed on 2024-03-14 at noon");
        nothing("born on 2024-13-45");
    }
}
