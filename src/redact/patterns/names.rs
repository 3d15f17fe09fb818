//! The checks of names and places that rules find by their shape: street
//! addresses, record fields (`"city": "Porto"`) and companies by their
//! legal form ("Ortmann Haase AG").

use super::Hit;
use super::checks::{hit, preceding};
use crate::redact::gate::is_stop_word;

/// A street address: the regex is the proof, short of a number glued to a
/// preceding one ("1.2 Main Street" is a list item, "v2 Highway" a name).
pub(super) fn check_address(text: &str, start: usize, end: usize) -> Option<Hit> {
    let before = preceding(text, start, 2);
    if before.last().is_some_and(|&b| {
        b.is_ascii_digit() || b == b'.' && before.first().is_some_and(u8::is_ascii_digit)
    }) {
        return None;
    }
    // A match that ends inside a word ("London NW" of "London NW1 6XE"
    // when the postcode did not match) ends before that word.
    let mut end = end;
    if text[end..].starts_with(char::is_alphanumeric) {
        let cut = text[start..end].rfind(char::is_whitespace)?;
        end = start + text[start..start + cut].trim_end_matches([',', ' ', '\t']).len();
    }
    // A full stop after the town ends the sentence; one after a short
    // street word ("Rd.", "St.") is part of it.
    let last_word = text[start..end].rsplit(char::is_whitespace).next().unwrap_or("");
    if last_word.ends_with('.') && last_word.chars().count() > 4 {
        end -= 1;
    }
    hit(start, end, 0.85)
}

/// Values of record fields that are no name: placeholders, types and
/// schema words.
const FIELD_PLACEHOLDERS: &[&str] = &[
    "string",
    "str",
    "text",
    "null",
    "none",
    "nil",
    "undefined",
    "n/a",
    "na",
    "unknown",
    "example",
    "required",
    "optional",
    "true",
    "false",
    "varchar",
    "char",
    "name",
    "city",
    "country",
    "company",
    "test",
    "todo",
    "tbd",
    "redacted",
    "anonymous",
    "default",
    "value",
    "empty",
];

/// A record field's value (group 1 of a field rule) that reads as a name or
/// a place: without its quotes, one to six words of letters (a place may
/// have a number: "Paris 8e"), not a placeholder, a type or an identifier.
pub(super) fn check_field(text: &str, start: usize, end: usize) -> Option<Hit> {
    let raw = &text[start..end];
    let quoted = raw.starts_with(['"', '\'']);
    let inner = if quoted { &raw[1..raw.len() - 1] } else { raw };
    let value = inner.trim().trim_end_matches(['.', ',']);
    let from = start + usize::from(quoted) + (inner.len() - inner.trim_start().len());
    let letters = value.chars().filter(|c| c.is_alphabetic()).count();
    let identifier = value.contains(['_', '@', '/', '\\', '$', '%', '#', '{', '}', '`'])
        || value.contains("://")
        || (!value.contains(' ') && value.contains('.') && !value.ends_with('.'));
    let words = value.split_whitespace().count();
    let placeholder = FIELD_PLACEHOLDERS.contains(&value.to_lowercase().as_str())
        || value.starts_with('<')
        || value.chars().all(|c| !c.is_alphanumeric() || c == 'x' || c == 'X');
    // Unquoted, a value in lower case is a type or a word of the code
    // (`city: str`, `name = name`), not a name.
    let unquoted_lower = !quoted && !value.starts_with(char::is_uppercase);
    if letters < 2 || identifier || placeholder || unquoted_lower || !(1..=6).contains(&words) {
        return None;
    }
    hit(from, from + value.len(), 0.85)
}

/// [`check_field`] for a person's name, which has no digits
/// (`"customer_name": "Customer 42"` is a label).
pub(super) fn check_name_field(text: &str, start: usize, end: usize) -> Option<Hit> {
    check_field(text, start, end)
        .filter(|h| !text[h.start..h.end].contains(|c: char| c.is_ascii_digit()))
}

/// A company named before its legal form ("Acme Widgets Ltd", "Weimer
/// Schmidtke e.V.", "Bailey and Sons"): without the function words and
/// greetings the match may start with ("The Acme Corp", "Danke Müller
/// GmbH"), and only with a word that can be a name.
pub(super) fn check_company(text: &str, start: usize, end: usize) -> Option<Hit> {
    let words: Vec<&str> = text[start..end].split(' ').collect();
    let mut from = start;
    // Leading function words go while a word is left before the form; one
    // that is also a name ("Mayo LLC") stays when it is the only one.
    for (i, word) in words.iter().enumerate() {
        if words.len() - i <= 2 || !is_stop_word(word.trim_end_matches([',', '.'])) {
            break;
        }
        from += word.len() + 1;
    }
    let name = text[from..end].split([' ', ',']).next().unwrap_or("");
    if name.chars().count() < 2 || ARTICLES.contains(&name.to_lowercase().as_str()) {
        return None;
    }
    hit(from, end, 0.8)
}

/// Words before a legal form that name no company ("The GmbH", "Die AG").
const ARTICLES: &[&str] = &[
    "the", "a", "an", "our", "your", "my", "their", "his", "her", "its", "this", "that", "die",
    "der", "das", "den", "dem", "des", "ein", "eine", "la", "le", "les", "el", "los", "las", "il",
    "lo", "gli", "un", "una", "une", "de", "het", "een",
];
