//! Context words near a candidate ("phone", "born", "ssn", ...), found
//! case-insensitively in one pass around it, and the text helpers the
//! checks share.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use crate::redact::{ceil_boundary, floor_boundary};

pub(super) const CONTEXT_BOOST: f32 = 0.2;
pub(super) const CONTEXT_WINDOW: usize = 48;

pub(super) const PHONE_CONTEXT_WORDS: &[&str] = &[
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
pub(super) const CARD_CONTEXT_WORDS: &[&str] = &[
    "card",
    "visa",
    "mastercard",
    "amex",
    "credit",
    "debit",
    "cc",
    "payment",
    "pay with",
    "paid with",
    "maestro",
    "jcb",
    "discover",
    "diners",
    "kreditkarte",
    "tarjeta",
    "carte",
];
pub(super) const SSN_CONTEXT_WORDS: &[&str] =
    &["ssn", "social security", "social-security", "ss#", "ss no", "taxpayer", "tin"];
pub(super) const BIRTH_CONTEXT_WORDS: &[&str] = &[
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
pub(super) static PHONE_CONTEXT: ContextWords = ContextWords::new(PHONE_CONTEXT_WORDS);
pub(super) static CARD_CONTEXT: ContextWords = ContextWords::new(CARD_CONTEXT_WORDS);
pub(super) static SSN_CONTEXT: ContextWords = ContextWords::new(SSN_CONTEXT_WORDS);
pub(super) static BIRTH_CONTEXT: ContextWords = ContextWords::new(BIRTH_CONTEXT_WORDS);
pub(super) static NO_CONTEXT: ContextWords = ContextWords::new(&[]);

// Words some rules' regexes cannot match without (see `Scope::Near`).
pub(super) static AT_SIGN: ContextWords = ContextWords::new(&["@"]);
pub(super) static SCHEME_SEPARATOR: ContextWords = ContextWords::new(&["://"]);
/// Where a date of birth can be: near a birth word or after a "b." label.
pub(super) static BIRTH_SCOPE: ContextWords = ContextWords::new(&BIRTH_SCOPE_WORDS);
const BIRTH_SCOPE_WORDS: [&str; BIRTH_CONTEXT_WORDS.len() + 1] = {
    let mut out = ["b."; BIRTH_CONTEXT_WORDS.len() + 1];
    let mut i = 0;
    while i < BIRTH_CONTEXT_WORDS.len() {
        out[i] = BIRTH_CONTEXT_WORDS[i];
        i += 1;
    }
    out
};
/// Where a URL starts.
pub(super) static URL_START: ContextWords = ContextWords::new(&["://", "www."]);
/// Where a secret is said in words ("the password is ...").
pub(super) static SPOKEN_SECRET: ContextWords = ContextWords::new(&["password", "passcode", "pin"]);
/// Where a bearer token follows.
pub(super) static BEARER: ContextWords = ContextWords::new(&["bearer"]);
/// A part of every key name of a record field that holds a name or a place
/// (`first_name`, `lastName`, `city`, `employer`).
pub(super) static FIELD_KEY_PARTS: ContextWords = ContextWords::new(&[
    "name",
    "city",
    "town",
    "village",
    "country",
    "birthplace",
    "hometown",
    "company",
    "employer",
    "organization",
    "organisation",
]);
/// The legal forms of [`company_pattern`](super::company_pattern), each
/// after the space before it, as written: searched on their own, only when
/// organisations are wanted, and in their case, so that the words of prose
/// that start like one (" agreed", " send") do not make regions.
#[rustfmt::skip]
pub(super) static LEGAL_FORMS: ContextWords = ContextWords::exact(&[
    " GmbH", " gGmbH", " AG", " KGaA", " KG", " OHG", " GbR", " UG", " SE", " Inc", " LLC",
    " Ltd", " Limited", " PLC", " plc", " LLP", " Corp", " SAS", " SARL", " SpA", " Srl", " SRL",
    " BV", " NV", " Oy", " AB", " ASA", " ApS", " Kft", " Zrt", " Pty", " e.V", " e. V", " S.A",
    " S.p.A", " S.r.l", " S.L", " B.V", " N.V", " L.L.C", " A/S", " Sp. z", " s.r.o", " S.Coop",
    " S. Coop", " Sons", " Söhne", " figli", " Figli", " hijos", " Hijos", " fils", " Fils",
    " asociados", " Asociados", " Partner", " Co.",
]);
/// A part of every key name of an assigned secret (`db_password=`, `apikey:`).
pub(super) static KEY_NAME_PARTS: ContextWords =
    ContextWords::new(&["pass", "pwd", "secret", "key", "token"]);

/// Context words, searched case-insensitively in one pass.
pub(super) struct ContextWords {
    words: &'static [&'static str],
    exact: bool,
    searcher: OnceLock<Option<AhoCorasick>>,
}

impl ContextWords {
    pub(super) const fn new(words: &'static [&'static str]) -> Self {
        Self { words, exact: false, searcher: OnceLock::new() }
    }

    /// Words found only as written, in their case.
    pub(super) const fn exact(words: &'static [&'static str]) -> Self {
        Self { words, exact: true, searcher: OnceLock::new() }
    }

    pub(super) fn searcher(&self) -> Option<&AhoCorasick> {
        self.searcher
            .get_or_init(|| {
                AhoCorasick::builder().ascii_case_insensitive(!self.exact).build(self.forms()).ok()
            })
            .as_ref()
    }

    /// The words as searched: ASCII letters fold in the search (unless
    /// `exact`); other letters are added in upper and title case
    /// ("Teléfono", "TELÉFONO").
    pub(super) fn forms(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for w in self.words {
            all.push((*w).to_owned());
            if !w.is_ascii() && !self.exact {
                all.push(w.to_uppercase());
                let mut chars = w.chars();
                if let Some(first) = chars.next() {
                    all.push(first.to_uppercase().chain(chars).collect());
                }
            }
        }
        all
    }
}

/// A context word shortly before `start` or just after `end`, not glued to
/// letters on its left (so "tel" does not match "hotel").
pub(super) fn has_context(text: &str, start: usize, end: usize, words: &ContextWords) -> bool {
    near(text, start, end, (CONTEXT_WINDOW, 16), words)
}

/// A context word within `before` bytes before `start` or `after` bytes
/// after `end`.
pub(super) fn near(
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

pub(super) fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

pub(super) fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}
