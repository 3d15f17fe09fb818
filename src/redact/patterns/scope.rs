//! Where in a text a rule's regex needs to look. Most rules can only match
//! near something a byte scan finds cheaply (a run of digits, an `@`, two
//! colons), so their regexes read a few short regions instead of the whole
//! text. Regions are computed once per text and shared by the rules that
//! use the same scope.

use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::automaton::StateID;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, StartKind};

use super::context::{
    AT_SIGN, BEARER, BIRTH_SCOPE, ContextWords, FIELD_KEY_PARTS, KEY_NAME_PARTS, SCHEME_SEPARATOR,
    SPOKEN_SECRET, URL_START,
};
use crate::redact::{ceil_boundary, floor_boundary};

/// The word lists of the rules' `Near` scopes: found together, in one pass
/// over a text, instead of one pass per list.
static NEAR_LISTS: [&ContextWords; 8] = [
    &KEY_NAME_PARTS,
    &FIELD_KEY_PARTS,
    &SCHEME_SEPARATOR,
    &AT_SIGN,
    &BIRTH_SCOPE,
    &URL_START,
    &SPOKEN_SECRET,
    &BEARER,
];

/// One automaton for all of [`NEAR_LISTS`], and the list of each pattern.
fn near_searcher() -> Option<&'static (DFA, Vec<usize>)> {
    static SEARCHER: OnceLock<Option<(DFA, Vec<usize>)>> = OnceLock::new();
    SEARCHER
        .get_or_init(|| {
            let mut words = Vec::new();
            let mut list_of = Vec::new();
            for (i, list) in NEAR_LISTS.iter().enumerate() {
                for form in list.forms() {
                    words.push(form);
                    list_of.push(i);
                }
            }
            // A DFA of a few hundred states; no prefilter, as most of the
            // words start with common letters.
            let dfa = DFA::builder()
                .ascii_case_insensitive(true)
                .prefilter(false)
                .start_kind(StartKind::Unanchored)
                .build(words)
                .ok()?;
            Some((dfa, list_of))
        })
        .as_ref()
}

/// How many parts of a text [`all_matches`] walks at once.
const LANES: usize = 4;

/// Every occurrence of every pattern of `dfa` in `hay`, as `(pattern, start,
/// end)`, overlapping ones included, in no particular order.
///
/// Each step of a DFA waits on the table read of the step before, so one
/// walk through a text leaves the core mostly idle. This walks [`LANES`]
/// parts of the text in one loop, whose steps do not wait on each other.
/// Each part after the first starts early by the longest pattern's length
/// less one, and keeps only the matches that end inside it.
fn all_matches(dfa: &DFA, hay: &[u8], out: &mut Vec<(usize, usize, usize)>) {
    let Ok(start) = dfa.start_state(Anchored::No) else { return };
    let overlap = dfa.max_pattern_len().saturating_sub(1);
    let part = hay.len() / LANES;
    // Lane `k` owns matches ending in `owns[k]..ends[k]` and reads from
    // `at[k]`, early enough to see each of them whole.
    let mut owns = [0; LANES];
    let mut ends = [hay.len(); LANES];
    let mut at = [0; LANES];
    if part > 4 * overlap {
        for k in 0..LANES {
            owns[k] = k * part;
            at[k] = owns[k].saturating_sub(overlap);
            if k + 1 < LANES {
                ends[k] = (k + 1) * part;
            }
        }
    } else {
        // Short texts: one lane reads it all, the others nothing.
        at[1..].fill(hay.len());
    }
    let mut sid = [start; LANES];
    let mut found = |sid: StateID, end: usize, owns: usize| {
        if end <= owns || !dfa.is_match(sid) {
            return;
        }
        for i in 0..dfa.match_len(sid) {
            let pattern = dfa.match_pattern(sid, i);
            out.push((pattern.as_usize(), end - dfa.pattern_len(pattern), end));
        }
    };
    // In step: every lane reads its next byte. The two loops spell the
    // step out: a shared closure that also checks the part's end measured
    // 14% slower on the pattern bench.
    let steps = (0..LANES).map(|k| ends[k] - at[k]).min().unwrap_or(0);
    for _ in 0..steps {
        for k in 0..LANES {
            sid[k] = dfa.next_state(Anchored::No, sid[k], hay[at[k]]);
            at[k] += 1;
            if dfa.is_special(sid[k]) {
                found(sid[k], at[k], owns[k]);
            }
        }
    }
    // Then each lane on its own to the end of its part.
    for k in 0..LANES {
        while at[k] < ends[k] {
            sid[k] = dfa.next_state(Anchored::No, sid[k], hay[at[k]]);
            at[k] += 1;
            if dfa.is_special(sid[k]) {
                found(sid[k], at[k], owns[k]);
            }
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Scope {
    Everywhere,
    /// Digits joined by up to two separators (` .-()/`), with at least
    /// `min_digits` digits, widened by `before` and `after` bytes (so the
    /// regex sees a leading `+`, `(` or the month name of a date).
    NumberRuns {
        min_digits: usize,
        before: usize,
        after: usize,
    },
    /// Number runs with three dots or more (IPv4 addresses).
    DottedQuads,
    /// Runs of letters, digits, `:`, `.` and `%` with two colons or more
    /// (IPv6 addresses with a zone).
    ColonRuns,
    /// Runs of ASCII word bytes of a length in this range, no shorter than
    /// [`MIN_TOKEN`] (crypto addresses).
    Tokens(usize, usize),
    /// Around each occurrence of one of `words` (ASCII case folded): from
    /// `before` bytes before it to `after` bytes after it, then on to the
    /// next whitespace, so a value of unbounded length is never cut short.
    Near {
        words: &'static ContextWords,
        before: usize,
        after: usize,
    },
    /// From each word that starts with two letters and two digits (an IBAN's
    /// country and check digits), `len` bytes on, more than any match.
    CountryCode {
        len: usize,
    },
}

/// Byte classes, as bits of [`CLASS`].
pub(super) mod class {
    pub const DIGIT: u8 = 1;
    pub const ALPHA: u8 = 2;
    /// ASCII letters, digits and `_`.
    pub const WORD: u8 = 4;
    /// Letters, digits, `:`, `.` and `%` (IPv6 addresses with a zone).
    pub const IPV6: u8 = 8;
}

static CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut t = [0_u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let (digit, alpha) = (c.is_ascii_digit(), c.is_ascii_alphabetic());
        let mut bits = 0;
        if digit {
            bits |= class::DIGIT | class::WORD | class::IPV6;
        }
        if alpha {
            bits |= class::ALPHA | class::WORD | class::IPV6;
        }
        if c == b'_' {
            bits |= class::WORD;
        }
        if c == b':' || c == b'%' || c == b'.' {
            bits |= class::IPV6;
        }
        t[i] = bits;
        i += 1;
    }
    t
}

fn is(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

impl Scope {
    /// Number runs with room for a leading `+` or `(` (cards, SSNs, phones).
    pub(super) const fn number_runs(min_digits: usize) -> Self {
        Scope::NumberRuns { min_digits, before: 4, after: 2 }
    }
}

/// The regions of a text that rules ask for. The number runs and word runs,
/// which several scopes use, are found once per text.
pub(super) struct Regions<'t> {
    text: &'t str,
    numbers: Option<Vec<NumberRun>>,
    tokens: Option<Vec<(usize, usize)>>,
    /// Occurrences of the words of [`NEAR_LISTS`]: (list, start, end).
    near: Option<Vec<(usize, usize, usize)>>,
}

#[derive(Clone, Copy)]
struct NumberRun {
    start: usize,
    end: usize,
    digits: usize,
    dots: usize,
}

impl<'t> Regions<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Self { text, numbers: None, tokens: None, near: None }
    }

    /// Sorted, non-overlapping byte ranges on char boundaries.
    pub(super) fn of(&mut self, scope: Scope) -> Vec<(usize, usize)> {
        let text = self.text;
        let b = text.as_bytes();
        let mut out = Merged { text, ranges: Vec::new() };
        match scope {
            Scope::Everywhere => out.push(0, b.len()),
            Scope::NumberRuns { min_digits, before, after } => {
                for r in self.numbers().iter().filter(|r| r.digits >= min_digits) {
                    out.push(r.start.saturating_sub(before), (r.end + after).min(b.len()));
                }
            }
            Scope::DottedQuads => {
                for r in self.numbers().iter().filter(|r| r.dots >= 3 && r.digits >= 4) {
                    out.push(r.start, r.end);
                }
            }
            Scope::ColonRuns => {
                let part = |c: u8| is(c, class::IPV6);
                let mut from = 0;
                while let Some(i) = memchr::memchr(b':', &b[from..]).map(|i| from + i) {
                    let start = i - b[..i].iter().rev().take_while(|&&c| part(c)).count();
                    let end = i + b[i..].iter().take_while(|&&c| part(c)).count();
                    if b[start..end].iter().filter(|&&c| c == b':').count() >= 2 {
                        out.push(start, end);
                    }
                    from = end.max(i + 1);
                }
            }
            Scope::Tokens(min, max) => {
                for &(start, end) in self.tokens() {
                    if (min..=max).contains(&(end - start)) {
                        out.push(start, end);
                    }
                }
            }
            Scope::Near { words, before, after } => {
                let found: Vec<(usize, usize)> =
                    match NEAR_LISTS.iter().position(|l| std::ptr::eq(*l, words)) {
                        Some(list) => self
                            .near()
                            .iter()
                            .filter(|(l, ..)| *l == list)
                            .map(|&(_, s, e)| (s, e))
                            .collect(),
                        None => match words.searcher() {
                            Some(s) => s.find_iter(text).map(|m| (m.start(), m.end())).collect(),
                            None => Vec::new(),
                        },
                    };
                for (start, end) in found {
                    let mut end = (end + after).min(b.len());
                    end += b[end..].iter().take_while(|c| !c.is_ascii_whitespace()).count();
                    out.push(start.saturating_sub(before), end);
                }
            }
            Scope::CountryCode { len } => {
                // The check digits start a number run, right after the two
                // letters that start a word.
                for r in self.numbers() {
                    let (p, w) = (r.start, class::WORD);
                    if p >= 2
                        && b.get(p + 1).is_some_and(|&c| is(c, class::DIGIT))
                        && is(b[p - 1], class::ALPHA)
                        && is(b[p - 2], class::ALPHA)
                        && (p == 2 || !is(b[p - 3], w))
                    {
                        out.push(p - 2, (p - 2 + len).min(b.len()));
                    }
                }
            }
        }
        out.ranges
    }

    /// Every occurrence of a word of [`NEAR_LISTS`], by start.
    fn near(&mut self) -> &[(usize, usize, usize)] {
        self.near.get_or_insert_with(|| {
            let Some((dfa, list_of)) = near_searcher() else { return Vec::new() };
            let mut found = Vec::new();
            all_matches(dfa, self.text.as_bytes(), &mut found);
            for m in &mut found {
                m.0 = list_of[m.0];
            }
            found.sort_unstable_by_key(|&(_, start, _)| start);
            found
        })
    }

    fn numbers(&mut self) -> &[NumberRun] {
        self.numbers.get_or_insert_with(|| number_runs(self.text.as_bytes()))
    }

    /// Maximal runs of ASCII word bytes, of [`MIN_TOKEN`] bytes or more.
    fn tokens(&mut self) -> &[(usize, usize)] {
        self.tokens.get_or_insert_with(|| long_word_runs(self.text.as_bytes()))
    }
}

/// The shortest run of word bytes a [`Scope::Tokens`] can ask for.
pub(super) const MIN_TOKEN: usize = 11;

/// Maximal runs of ASCII word bytes at least [`MIN_TOKEN`] long. A run that
/// long has a word byte at each multiple of `MIN_TOKEN` it spans, so only
/// those bytes are read until one is found.
fn long_word_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let (mut i, mut from) = (MIN_TOKEN - 1, 0);
    while i < b.len() {
        if !is(b[i], class::WORD) {
            i += MIN_TOKEN;
            continue;
        }
        let start = i - b[from..i].iter().rev().take_while(|&&c| is(c, class::WORD)).count();
        let end = i + b[i..].iter().take_while(|&&c| is(c, class::WORD)).count();
        if end - start >= MIN_TOKEN {
            runs.push((start, end));
        }
        from = end;
        i = end + MIN_TOKEN;
    }
    runs
}

/// Ranges pushed in order of their start, merged when they touch.
struct Merged<'t> {
    text: &'t str,
    ranges: Vec<(usize, usize)>,
}

impl Merged<'_> {
    fn push(&mut self, start: usize, end: usize) {
        let (start, end) = (floor_boundary(self.text, start), ceil_boundary(self.text, end));
        match self.ranges.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => self.ranges.push((start, end)),
        }
    }
}

/// The index of the first ASCII digit at or after `i` (or `b.len()`),
/// looking 16 bytes at a time through text without one.
pub(super) fn next_digit(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<16>()) {
        if chunk.iter().fold(false, |any, c| any | c.is_ascii_digit()) {
            break;
        }
        i += 16;
    }
    let rest = b.get(i..).unwrap_or_default();
    i + rest.iter().position(u8::is_ascii_digit).unwrap_or(rest.len())
}

fn number_runs(b: &[u8]) -> Vec<NumberRun> {
    let mut runs = Vec::new();
    let mut i = 0;
    loop {
        i = next_digit(b, i);
        if i >= b.len() {
            break;
        }
        let (start, mut end, mut digits, mut dots, mut j) = (i, i, 0, 0, i);
        while j < b.len() {
            if is(b[j], class::DIGIT) {
                digits += 1;
                j += 1;
                end = j;
                continue;
            }
            // Up to two separators (") ", " (") before more digits.
            let seps = b[j..].iter().take(2).take_while(|c| b" .-()/".contains(c)).count();
            let next = b.get(j + seps);
            if seps > 0 && next.is_some_and(|c| c.is_ascii_digit() || *c == b'(') {
                dots += b[j..j + seps].iter().filter(|&&c| c == b'.').count();
                j += seps;
            } else {
                break;
            }
        }
        runs.push(NumberRun { start, end, digits, dots });
        i = j.max(i + 1);
    }
    runs
}

#[cfg(test)]
mod tests {
    use aho_corasick::AhoCorasick;

    use super::*;

    fn regions(text: &str, scope: Scope) -> Vec<&str> {
        Regions::new(text).of(scope).into_iter().map(|(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn next_digit_looks_past_chunks() {
        let text = format!("{}7 and 9", "x".repeat(35));
        let b = text.as_bytes();
        assert_eq!(next_digit(b, 0), 35);
        assert_eq!(next_digit(b, 35), 35);
        assert_eq!(next_digit(b, 36), 41);
        assert_eq!(next_digit(b, 42), b.len());
        assert_eq!(next_digit(b"", 0), 0);
    }

    #[test]
    fn number_runs_with_margins() {
        let text = "v2.1 on 3 hosts; call (555) 123-4567 or +44 20 7946 0958, ref 12";
        // Margins let the regex see "(" and "+"; touching regions merge.
        assert_eq!(
            regions(text, Scope::number_runs(7)),
            ["ll (555) 123-4567 or +44 20 7946 0958, "]
        );
        let text = "born on March 14, 1987 and 2.1";
        assert_eq!(
            regions(text, Scope::NumberRuns { min_digits: 4, before: 12, after: 1 }),
            ["n March 14, 1987 "]
        );
    }

    static AT: ContextWords = ContextWords::new(&["@"]);

    #[test]
    fn tokens_literals_country_codes_and_colons() {
        let text = "send to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq now";
        let tokens = regions(text, Scope::Tokens(11, 91));
        assert_eq!(tokens.len(), 1);
        assert!(tokens[0].starts_with("bc1q"));
        // Regions near a word run on to the next whitespace.
        let text = "mail ann@example.org or bob@x.io";
        assert_eq!(
            regions(text, Scope::Near { words: &AT, before: 3, after: 4 }),
            ["ann@example.org", "bob@x.io"]
        );
        let text = "IBAN DE89 3704, ref AB12x, xDE89";
        assert_eq!(regions(text, Scope::CountryCode { len: 9 }), ["DE89 3704", "AB12x, xD"]);
        let text = "ping fe80::1%eth0 or 12:30 or std::fs";
        assert_eq!(regions(text, Scope::ColonRuns), ["fe80::1%eth0", "std::fs"]);
        let text = "v1.2.3 at 10.0.0.1/8, 1.2";
        assert_eq!(regions(text, Scope::DottedQuads), ["10.0.0.1/8"]);
    }

    /// What [`all_matches`] must find: aho-corasick's own overlapping search.
    fn overlapping(text: &str) -> Vec<(usize, usize, usize)> {
        let words: Vec<String> = NEAR_LISTS.iter().flat_map(|l| l.forms()).collect();
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&words)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut found: Vec<_> = ac
            .find_overlapping_iter(text)
            .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
            .collect();
        found.sort_unstable();
        found
    }

    fn lanes(text: &str) -> Vec<(usize, usize, usize)> {
        let (dfa, _) = near_searcher().unwrap_or_else(|| panic!("near searcher"));
        let mut found = Vec::new();
        all_matches(dfa, text.as_bytes(), &mut found);
        found.sort_unstable();
        found
    }

    #[test]
    fn lanes_find_what_one_walk_finds() {
        // Words across every lane boundary, at the edges, and overlapping
        // ("password" holds "pass"; "://" is in two lists).
        let words = ["Password: ", "x", "date de naissance", "https://", "keytoken", "é", " b."];
        let text: String = (0..60).map(|i| words[i % words.len()]).collect();
        // Every length moves the lanes' boundaries by a byte.
        for cut in 0..=text.len() {
            let t = &text[..text.floor_char_boundary(cut)];
            assert_eq!(lanes(t), overlapping(t), "{cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn lanes_find_what_one_walk_finds_anywhere(
            text in "(pass|PASSWORD|word|key|born|b\\.|://|www\\.|@|name|é| |date de naissance|[a-z]{1,3}){0,300}"
        ) {
            proptest::prop_assert_eq!(lanes(&text), overlapping(&text));
        }
    }

    #[test]
    fn regions_never_cut_a_character() {
        let text = "ééé 1234567 ü @ ü";
        for scope in [
            Scope::number_runs(7),
            Scope::Near { words: &AT, before: 3, after: 3 },
            Scope::NumberRuns { min_digits: 4, before: 5, after: 3 },
        ] {
            for (a, b) in Regions::new(text).of(scope) {
                assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
            }
        }
    }
}
