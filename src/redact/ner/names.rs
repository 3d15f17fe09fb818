//! Where a name the model tagged begins and ends: whole words, without the
//! greeting, title, degree or full stop around it, cut where the words
//! cannot belong to one name, and only when it reads like a name at all.

use crate::redact::entity::{Entity, Finding};
use crate::redact::gate::is_stop_word;

/// The names in the span `text[start..end]` the model tagged `entity`,
/// each as long as the name itself ([`clean`], [`split_at_inner_words`],
/// [`trim_lower_edges`]). A title before a name makes it a person's ("Dr.
/// Kwame Mensah", whatever type the model gave it); a name in lower case
/// after "my name is" (`cued`) is kept in cased text.
pub(super) fn names_in(
    text: &str,
    start: usize,
    end: usize,
    entity: Entity,
    cased: bool,
    cued: &[(usize, usize)],
) -> Vec<(Entity, usize, usize)> {
    let mut out = Vec::new();
    for (s, e) in clean(text, start, end, cased) {
        if !cased {
            out.push((entity, s, e));
            continue;
        }
        let piece = &text[s..e];
        // A degree alone ("PhD", "M.D.") names nobody; one after a name
        // makes it a person's ("Anatolij Hering B.A.", "Tom Baker MD").
        let (first, last) = (piece.split(' ').next(), piece.rsplit(' ').next());
        if first == last && last.is_some_and(credential) {
            continue;
        }
        let titled = first.is_some_and(|w| {
            piece.contains(' ') && TITLES.contains(&w.to_lowercase().trim_end_matches('.'))
        });
        let credited = piece.contains(' ') && last.is_some_and(credential);
        let entity = if titled || credited { Entity::Person } else { entity };
        out.extend(
            split_at_inner_words(text, s, e, entity)
                .into_iter()
                .filter_map(|(s, e)| trim_lower_edges(text, s, e))
                .map(|(s, e)| (entity, s, e)),
        );
    }
    for &(cs, ce) in cued.iter().filter(|&&(cs, ce)| cs < end && start < ce) {
        out.extend(
            trim_stop_word_edges(text, cs.max(start), ce.min(end)).map(|(s, e)| (entity, s, e)),
        );
    }
    out
}

/// Joins a name written in capitals surname first ("JOHNSON, MARY"), which
/// the model reads as two names, into one.
pub(super) fn join_surname_first(text: &str, found: &mut Vec<Finding>) {
    let caps = |f: &Finding| !text[f.start..f.end].chars().any(char::is_lowercase);
    let mut i = 0;
    while i + 1 < found.len() {
        let (a, b) = (found[i].clone(), found[i + 1].clone());
        let between = &text[a.end..b.start.max(a.end)];
        if a.entity == Entity::Person
            && b.entity == Entity::Person
            && caps(&a)
            && caps(&b)
            && between.starts_with(',')
            && between.len() <= 3
            && between[1..].chars().all(|c| c == ' ')
        {
            found[i].end = b.end;
            found[i].score = (a.score + b.score) / 2.0;
            found.remove(i + 1);
        } else {
            i += 1;
        }
    }
}

/// Joins a first name and the word right after it that the model took for
/// another name ("Fausto" PERSON, "Avogadro" ORGANIZATION; "Maria",
/// "Lopez"): one capitalised word right after a one-word person's name, a
/// space apart, is the surname, unless it names a firm ([`FIRM_WORDS`]).
pub(super) fn join_split_name(text: &str, found: &mut Vec<Finding>) {
    let one_word = |f: &Finding| !text[f.start..f.end].contains(char::is_whitespace);
    let mut i = 0;
    while i + 1 < found.len() {
        let (a, b) = (&found[i], &found[i + 1]);
        if a.entity == Entity::Person
            && matches!(b.entity, Entity::Person | Entity::Organization | Entity::Location)
            && text.get(a.end..b.start) == Some(" ")
            && one_word(a)
            && one_word(b)
            && text[b.start..b.end].starts_with(char::is_uppercase)
        {
            // "Collins Holdings" is a company named after a family.
            let firm = b.entity == Entity::Organization
                && FIRM_WORDS.contains(&text[b.start..b.end].to_lowercase().as_str());
            let (end, score) = (b.end, (a.score + b.score) / 2.0);
            found[i].end = end;
            found[i].score = score;
            if firm {
                found[i].entity = Entity::Organization;
            }
            found.remove(i + 1);
        }
        i += 1;
    }
}

/// Names that a word of [`FIRM_WORDS`] makes a company's: a person's name
/// that ends in one ("Jones Holdings"), and a person's or a company's name
/// right before one the model left out ("Blake" + "Holdings").
pub(super) fn firm_names(text: &str, found: &mut [Finding]) {
    let is_firm = |w: &str| {
        w.starts_with(char::is_uppercase) && FIRM_WORDS.contains(&w.to_lowercase().as_str())
    };
    for i in 0..found.len() {
        let f = &found[i];
        if !matches!(f.entity, Entity::Person | Entity::Organization) {
            continue;
        }
        let name = text.get(f.start..f.end).unwrap_or_default();
        let last = name.rsplit(' ').next().unwrap_or_default();
        // Up to the next name, which may also overlap this one.
        let next_start = found.get(i + 1).map_or(text.len(), |n| n.start.max(f.end));
        let next = text
            .get(f.end..next_start)
            .and_then(|between| between.strip_prefix(' '))
            .map(|rest| rest.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default())
            .filter(|w| is_firm(w));
        let f = &mut found[i];
        if let Some(word) = next {
            f.end += 1 + word.len();
            f.entity = Entity::Organization;
        } else if f.entity == Entity::Person && f.start + last.len() < f.end && is_firm(last) {
            f.entity = Entity::Organization;
        }
    }
}

/// The word after a person's name and "aus" or "uit" ("Janus Wirth aus
/// Hettstedt", "Anna uit Zwolle"), when it starts with a capital and has
/// three letters or more: where the person comes from. The caller keeps
/// those that are no everyday word ("Peter aus Versehen"). English "from"
/// is left out: "Anna from Sales" names a department, and "Sales" is also a
/// town, so the word list keeps it.
pub(super) fn origins(text: &str, found: &[Finding]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for f in found.iter().filter(|f| f.entity == Entity::Person) {
        let rest = &text[f.end..];
        let Some(after) = ["aus", "uit"]
            .iter()
            .find_map(|w| rest.strip_prefix(' ')?.strip_prefix(w)?.strip_prefix(' '))
        else {
            continue;
        };
        let word =
            &after[..after.find(|c: char| !c.is_alphabetic() && c != '-').unwrap_or(after.len())];
        let start = text.len() - after.len();
        if word.starts_with(char::is_uppercase)
            && word.chars().nth(1).is_some_and(char::is_lowercase)
            && word.chars().filter(|c| c.is_alphabetic()).count() >= 3
        {
            out.push((start, start + word.len()));
        }
    }
    out
}

/// Words that make a family name a company's ("Collins Holdings", "Baker
/// Logistics"), in the languages of the stop words.
const FIRM_WORDS: &[&str] = &[
    "holdings",
    "group",
    "gruppe",
    "groupe",
    "grupo",
    "gruppo",
    "industries",
    "partners",
    "associates",
    "capital",
    "ventures",
    "consulting",
    "logistics",
    "analytics",
    "systems",
    "solutions",
    "technologies",
    "labs",
    "media",
    "bank",
    "insurance",
    "assurance",
    "freight",
    "motors",
    "foods",
    "pharma",
    "energy",
    "airlines",
    "brothers",
    "bros",
    "enterprises",
    "international",
    "holding",
    "werke",
    "bau",
    "logistik",
    "versicherung",
    "immobilien",
];

/// Words that join the parts of one person's name ("Charles de Gaulle",
/// "Ludwig van Beethoven", "José Ortega y Gasset").
const NAME_PARTICLES: &[&str] = &[
    "de", "del", "della", "di", "da", "do", "dos", "das", "du", "des", "la", "le", "van", "von",
    "der", "den", "ter", "ten", "bin", "ibn", "al", "el", "y", "e", "zu", "af", "av",
];

/// Lower-case words that join the parts of a place's or an organisation's
/// name, besides the name particles ("Bank of America", "Frankfurt am
/// Main", "Newcastle upon Tyne", "Bundesamt für Migration").
const NAME_JOINERS: &[&str] = &[
    "of", "and", "for", "the", "upon", "on", "am", "im", "an", "ob", "sur", "sous", "lès", "les",
    "en", "et", "und", "für", "voor", "het", "og", "och", "dei", "degli", "delle", "los", "las",
    "au", "aux", "zum", "zur",
];

/// Greetings and titles that the model sometimes takes into the name they
/// stand before ("Hey Siobhan", "Dear Anna", "Frau Schmidt", "Mme Lefèvre").
const GREETINGS: &[&str] = &[
    "hi", "hello", "hey", "dear", "thanks", "cheers", "ciao", "hallo", "hola", "bonjour", "salut",
    "olá", "ola", "liebe", "lieber", "cher", "chère", "caro", "cara", "querido", "querida",
];

/// Titles before a name; not part of it ([`ABBREVIATIONS`] holds those that
/// end a name).
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "madam", "mme", "mlle", "herr",
    "frau", "hr", "fr", "sr", "sra", "srta", "sig", "dott", "rev", "hon", "ing", "mag", "dipl",
];

/// A span cut at the lower-case words inside it that cannot be part of a
/// name of its type, and a person's name without the greeting before it.
/// A person's name is cut at function words that are not name particles
/// ("Orhan Klemm aus Wittenberg", "Mary and John"); a place's or an
/// organisation's at function words and runs of lower-case words that do
/// not join names ("Milano per incontrare quelli di Luxottica"), while one
/// lower-case word may belong to it ("Giralt y asociados").
fn split_at_inner_words(
    text: &str,
    start: usize,
    end: usize,
    entity: Entity,
) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let mut at = start;
    for word in text[start..end].split(' ') {
        words.push((at, at + word.len()));
        at += word.len() + 1;
    }
    let foreign = |i: usize| {
        let (s, e) = words[i];
        let word = &text[s..e];
        s > start
            && e < end
            && !word.is_empty()
            && word.chars().all(char::is_lowercase)
            && !NAME_PARTICLES.contains(&word)
            && (entity == Entity::Person || !NAME_JOINERS.contains(&word))
    };
    let mut out = Vec::new();
    let mut from = start;
    for (i, &(s, e)) in words.iter().enumerate() {
        let word = &text[s..e];
        let cut = match entity {
            Entity::Person => {
                (foreign(i) && is_stop_word(word))
                    || (s == from && e < end && {
                        let word = word.to_lowercase();
                        GREETINGS.contains(&word.trim_end_matches(','))
                            || TITLES.contains(&word.trim_end_matches('.'))
                            || degree(&word, true)
                    })
                    || (e == end && s > from && (degree(word, false) || credential(word)))
            }
            _ => {
                foreign(i)
                    && (is_stop_word(word)
                        || (i > 0 && foreign(i - 1))
                        || (i + 1 < words.len() && foreign(i + 1)))
            }
        };
        if cut {
            out.push((from, text[..s].trim_end().len().max(from)));
            from = e + 1;
        }
    }
    out.push((from.min(end), end));
    out.retain(|(s, e)| e > s);
    out
}

/// Splits a span at line and sentence breaks, and — in text that uses
/// capitals at all — trims lower-case words from its edges and drops pieces
/// without a capital: names are written with capitals, and the model's
/// misses on other languages are mostly lower-case words around a name.
fn clean(text: &str, start: usize, end: usize, cased: bool) -> Vec<(usize, usize)> {
    let span = &text[start..end];
    let mut pieces = Vec::new();
    let mut from = 0;
    let bytes = span.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        // Columns of a form ("ADAM   DOB:") are apart too.
        let brk = b == b'\n'
            || b == b'\t'
            || (b == b' ' && bytes.get(i + 1) == Some(&b' '))
            || (matches!(b, b'.' | b'!' | b'?' | b';' | b':')
                && bytes.get(i + 1).is_some_and(|n| n.is_ascii_whitespace())
                && !(b == b'.' && abbreviated(&span[..i])));
        if brk {
            pieces.push((start + from, start + i));
            from = i + 1;
        }
    }
    pieces.push((start + from, end));
    let mut out = Vec::new();
    for (mut s, mut e) in pieces {
        // Whitespace and punctuation at the edges.
        while s < e && text[s..e].starts_with(|c: char| !c.is_alphanumeric()) {
            s += text[s..].chars().next().map_or(1, char::len_utf8);
        }
        e = trim_end_punctuation(text, s, e);
        if cased {
            match trim_lower_edges(text, s, e) {
                Some(piece) => out.push(piece),
                None => continue,
            }
        } else if let Some(piece) = trim_stop_word_edges(text, s, e) {
            out.push(piece);
        }
    }
    out
}

/// A span of text in lower case without the function words and relation
/// nouns at its edges ("my friend kevin o'brien"), or `None` when nothing
/// is left.
fn trim_stop_word_edges(text: &str, mut s: usize, mut e: usize) -> Option<(usize, usize)> {
    let stop = |w: &str| is_stop_word(w.trim_matches(|c: char| !c.is_alphanumeric()));
    while let Some(i) = text[s..e].find(' ') {
        if !stop(&text[s..s + i]) {
            break;
        }
        s += i + 1;
    }
    while let Some(i) = text[s..e].rfind(' ') {
        if !stop(&text[s + i + 1..e]) {
            break;
        }
        e = s + i;
    }
    let (s, e) =
        (s + text[s..e].len() - text[s..e].trim_start().len(), s + text[s..e].trim_end().len());
    (e > s).then_some((s, e))
}

/// A span of cased text without the lower-case words at its edges ("je
/// m'appelle Beth", "di Luxottica"), or `None` when what is left does not
/// start with a capital.
fn trim_lower_edges(text: &str, mut s: usize, mut e: usize) -> Option<(usize, usize)> {
    loop {
        let piece = &text[s..e];
        let first_word_end = piece.find(char::is_whitespace).unwrap_or(piece.len());
        if first_word_end < piece.len() && piece.starts_with(|c: char| c.is_lowercase()) {
            s += first_word_end;
            s += text[s..e].len() - text[s..e].trim_start().len();
        } else {
            break;
        }
    }
    loop {
        let piece = &text[s..e];
        match piece.rfind(char::is_whitespace) {
            Some(i) if piece[i..].trim_start().starts_with(|c: char| c.is_lowercase()) => {
                e = s + piece[..i].trim_end().len();
            }
            _ => break,
        }
    }
    let e = trim_end_punctuation(text, s, e);
    (e > s && text[s..e].chars().next().is_some_and(char::is_uppercase)).then_some((s, e))
}

/// Abbreviations that end a name with their full stop ("Acme Inc.", "Sammy
/// Davis Jr.").
const ABBREVIATIONS: &[&str] =
    &["inc", "ltd", "co", "corp", "jr", "sr", "st", "bros", "plc", "llc", "pty", "mfg", "cie"];

/// Whether `word` is an academic degree or title written with full stops:
/// before a name, one with a part of two letters or more ("Dipl.-Ing.",
/// "Univ.Prof.", not the initials "J.R.R."); after it, any ("B.Sc.",
/// "Ph.D.", "B.A.").
fn degree(word: &str, before: bool) -> bool {
    let word = word.trim_end_matches([',', '.']);
    word.contains('.')
        && (!before
            || word
                .split(['.', '-'])
                .any(|part| part.chars().filter(|c| c.is_alphabetic()).count() >= 2))
}

/// Degrees and credentials after a name, as written (without the last
/// full stop): "Md." is Maryland, "MA" Massachusetts, "S.Com." a legal form.
const CREDENTIALS: &[&str] = &[
    "PhD", "Ph.D", "MD", "M.D", "MBA", "M.B.A", "MSc", "M.Sc", "BSc", "B.Sc", "B.A", "B.S", "M.A",
    "M.S", "MPhil", "M.Phil", "DPhil", "D.Phil", "LLM", "LL.M", "LLB", "LL.B", "JD", "J.D", "DDS",
    "D.D.S", "DMD", "DVM", "PharmD", "EdD", "MPH", "RN", "CPA", "CFA", "Esq", "FRCS", "MRCP",
    "BEng", "B.Eng", "MEng", "M.Eng", "B.Com", "M.Com", "B.Ed", "M.Ed",
];

/// Whether `word`, after a name, is a degree or credential ("B.A.", "PhD",
/// "M.D.,").
fn credential(word: &str) -> bool {
    CREDENTIALS.contains(&word.trim_end_matches([',', '.']))
}

/// Whether the last word of `before` is one a full stop after it
/// abbreviates: an initial ("F"), a dotted abbreviation ("S.A"), one of
/// [`ABBREVIATIONS`] or of [`TITLES`].
fn abbreviated(before: &str) -> bool {
    let word = &before[before.rfind(char::is_whitespace).map_or(0, |i| i + 1)..];
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    let lower = word.to_lowercase();
    letters > 0
        && (letters == 1
            || word.contains('.')
            || ABBREVIATIONS.contains(&lower.as_str())
            || TITLES.contains(&lower.as_str()))
}

/// The end of `text[s..e]` without the punctuation after its last word; a
/// full stop stays after an initial ("Mary E."), a dotted abbreviation
/// ("S.A.") or one of [`ABBREVIATIONS`], and goes when it ends a sentence.
fn trim_end_punctuation(text: &str, s: usize, mut e: usize) -> usize {
    while let Some(c) = text[s..e].chars().next_back().filter(|c| !c.is_alphanumeric()) {
        if c == '.' && abbreviated(&text[s..e - 1]) {
            break;
        }
        e -= c.len_utf8();
    }
    e
}

/// Names have a word of letters: "244ms", "37" or a hex id are not one
/// (the model sometimes tags them in logs); person names have no digits;
/// a lone label or function word ("IBAN", "Nummer") is not a name.
pub(super) fn plausible(entity: Entity, span: &str) -> bool {
    if entity == Entity::Person && span.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    // Labels and function words ("Meine Nummer", "IBAN") are no name;
    // short syllables that are also names ("Do Son", "Le Mai") may be.
    let words: Vec<&str> = span
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .collect();
    let single = words.len() == 1;
    if single && words.first().is_some_and(|w| imperative_with_clitic(w)) {
        return false;
    }
    if words.iter().all(|w| is_stop_word(w))
        && (single || words.iter().any(|w| w.chars().count() >= 4))
    {
        return false;
    }
    span.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.chars().count() >= 2 && w.chars().all(char::is_alphabetic))
}

/// Whether `word` is a Spanish imperative with an object pronoun attached
/// ("Envíelo", "Llámame", "Confírmeselo"), which the model takes for a
/// place when it starts a sentence. Their spelling gives them away: the
/// stress mark the pronoun makes necessary, after the first letter of the
/// word, then the verb's `a` or `e`, then the pronoun. Names of that shape
/// ("Rómulo", "Ángela", "Ítalo") have the mark earlier, another vowel
/// before the ending, or end in "la", which is left out.
fn imperative_with_clitic(word: &str) -> bool {
    const PRONOUNS: &[&str] = &[
        "selo", "selos", "sela", "selas", "melo", "mela", "noslo", "lo", "los", "le", "les", "me",
        "nos",
    ];
    let lower = word.to_lowercase();
    if !lower.chars().all(char::is_alphabetic) || lower.chars().count() < 6 {
        return false;
    }
    // "Revíselos" is "revise" + "los", not "revi" + "selos": try each.
    PRONOUNS.iter().filter_map(|p| lower.strip_suffix(p)).any(|stem| {
        let stem: Vec<char> = stem.chars().collect();
        let mut marked = stem.iter().enumerate().filter(|(_, c)| "áéíóú".contains(**c));
        let (first, second) = (marked.next(), marked.next());
        matches!(stem.last(), Some('a' | 'e'))
            && second.is_none()
            && first.is_some_and(|(i, _)| i >= 1 && i + 1 < stem.len())
    })
}

/// The span is the name part of a `product/version` token ("Mozilla/5.0",
/// "curl/8.4.0" in a user agent or log line).
pub(super) fn in_product_token(text: &str, _start: usize, end: usize) -> bool {
    let rest = &text[end..];
    rest.starts_with('/') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
}

/// Widens a span to whole words and drops edge punctuation.
pub(super) fn widen(text: &str, mut start: usize, mut end: usize) -> (usize, usize) {
    while let Some(c) = text[..start].chars().next_back().filter(|c| c.is_alphanumeric()) {
        start -= c.len_utf8();
    }
    while let Some(c) = text[end..].chars().next().filter(|c| c.is_alphanumeric()) {
        end += c.len_utf8();
    }
    while let Some(c) = text[start..end]
        .chars()
        .next_back()
        .filter(|c| matches!(c, ',' | ';' | ':' | '"' | '\'' | ')'))
    {
        end -= c.len_utf8();
    }
    (start, end)
}

#[cfg(test)]
mod tests;
