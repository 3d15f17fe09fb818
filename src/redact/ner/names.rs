//! Where a name the model tagged begins and ends: whole words, without the
//! greeting, title, degree or full stop around it, cut where the words
//! cannot belong to one name, and only when it reads like a name at all.

#[cfg(test)]
use crate::redact::entity::Source;
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
mod tests {
    use super::*;

    #[test]
    fn cleaning_trims_lower_case_edges_and_splits_sentences() {
        let t = "je m'appelle Beth Rowley-Kaur, j'habite à Hillchester. Mon ami";
        let span = |s: usize, e: usize| &t[s..e];
        let got: Vec<&str> =
            clean(t, 0, t.len(), true).into_iter().map(|(s, e)| span(s, e)).collect();
        assert_eq!(got, ["Beth Rowley-Kaur, j'habite à Hillchester", "Mon"]);
        // A full stop after an initial or an abbreviation ends no sentence.
        for name in ["John F. Kennedy", "St. Mary's Hospital", "Dr. Kwame Mensah"] {
            assert_eq!(clean(name, 0, name.len(), true), [(0, name.len())]);
        }
        let got: Vec<&str> = clean("see qty here", 4, 7, true)
            .into_iter()
            .map(|(s, e)| &"see qty here"[s..e])
            .collect();
        assert!(got.is_empty());
        let got: Vec<&str> = clean("call john smith", 5, 15, false)
            .into_iter()
            .map(|(s, e)| &"call john smith"[s..e])
            .collect();
        assert_eq!(got, ["john smith"]);
    }

    #[test]
    fn spans_are_cut_at_words_that_cannot_belong_to_the_name() {
        let cut = |t: &str, entity| -> Vec<String> {
            split_at_inner_words(t, 0, t.len(), entity)
                .into_iter()
                .filter_map(|(s, e)| trim_lower_edges(t, s, e))
                .map(|(s, e)| t[s..e].to_owned())
                .collect()
        };
        let place = "Milano per incontrare quelli di Luxottica";
        assert_eq!(cut(place, Entity::Location), ["Milano", "Luxottica"]);
        // Joining words and one lower-case word of a company name stay.
        for name in ["Bank of America", "Frankfurt am Main", "Farmacia Giralt y asociados S.L."] {
            assert_eq!(cut(name, Entity::Organization), [name]);
        }
        assert_eq!(cut("Hey Siobhan", Entity::Person), ["Siobhan"]);
        assert_eq!(cut("Dear Anna Berg", Entity::Person), ["Anna Berg"]);
        assert_eq!(
            cut("Orhan Klemm aus Wittenberg", Entity::Person),
            ["Orhan Klemm", "Wittenberg"]
        );
        assert_eq!(cut("Charles de Gaulle", Entity::Person), ["Charles de Gaulle"]);
        assert_eq!(cut("Frau Schmidt-Weber", Entity::Person), ["Schmidt-Weber"]);
        assert_eq!(cut("Dr. Kwame Mensah", Entity::Person), ["Kwame Mensah"]);
        assert_eq!(cut("Dipl.-Ing. Ercan Junken B.Eng.", Entity::Person), ["Ercan Junken"]);
        assert_eq!(cut("J.R.R. Tolkien", Entity::Person), ["J.R.R. Tolkien"]);
    }

    #[test]
    fn a_full_stop_stays_only_after_an_abbreviation() {
        let end = |t: &'static str| &t[..trim_end_punctuation(t, 0, t.len())];
        assert_eq!(end("Luxottica."), "Luxottica");
        assert_eq!(end("Sanne,"), "Sanne");
        assert_eq!(end("Miles Dyson.)"), "Miles Dyson");
        assert_eq!(end("Acme Inc."), "Acme Inc.");
        assert_eq!(end("Mary E."), "Mary E.");
        assert_eq!(end("Banco Sol S.A."), "Banco Sol S.A.");
        assert_eq!(end("..."), "");
    }

    #[test]
    fn numbers_and_ids_are_not_names() {
        assert!(!plausible(Entity::Location, "244ms"));
        assert!(!plausible(Entity::Location, "e019f02980ce"));
        assert!(!plausible(Entity::Organization, "37"));
        assert!(!plausible(Entity::Person, "Agent 47"));
        assert!(plausible(Entity::Location, "221B Baker Street"));
        assert!(plausible(Entity::Person, "Zoë O'Neil"));
        assert!(plausible(Entity::Location, "Bigot-la-Forêt"));
        assert!(!plausible(Entity::Organization, "IBAN"));
        assert!(!plausible(Entity::Organization, "Nummer"));
        assert!(!plausible(Entity::Person, "Meine Nummer"));
        assert!(plausible(Entity::Person, "Do Son"));
        let ua = "ua=Mozilla/5.0 (X11)";
        assert!(in_product_token(ua, 3, 10));
        assert!(!in_product_token("Mozilla Foundation", 0, 7));
    }

    #[test]
    fn widening_takes_whole_words() {
        let t = "Hello Johnson, bye";
        assert_eq!(widen(t, 8, 10), (6, 13));
        assert_eq!(widen(t, 6, 14), (6, 13));
    }

    #[test]
    fn a_degree_after_a_name_makes_it_a_persons_and_alone_names_nobody() {
        for word in ["B.A.", "PhD", "M.D.,", "M.Sc.", "Ph.D.", "MBA"] {
            assert!(credential(word), "{word}");
        }
        // Legal forms, states and abbreviations are not degrees.
        for word in ["S.Com.", "S.A.", "MA", "St.", "GmbH", "Md."] {
            assert!(!credential(word), "{word}");
        }
        let found = |t: &str, entity| -> Vec<(Entity, String)> {
            names_in(t, 0, t.len(), entity, true, &[])
                .into_iter()
                .map(|(e, s, end)| (e, t[s..end].to_owned()))
                .collect::<Vec<_>>()
        };
        let t = "Anatolij Hering B.A.";
        assert_eq!(found(t, Entity::Organization), [(Entity::Person, "Anatolij Hering".into())]);
        assert_eq!(found("PhD", Entity::Organization), []);
        let t = "Desarrollo Globales S.Com.";
        assert_eq!(found(t, Entity::Organization), [(Entity::Organization, t.into())]);
    }

    #[test]
    fn a_first_name_and_the_word_after_it_are_one_name() {
        let joined = |t: &str, a: (usize, usize), b: (usize, usize), second| -> Vec<String> {
            let mut found = vec![
                Finding::new(Entity::Person, a.0, a.1, 0.9, Source::Ner),
                Finding::new(second, b.0, b.1, 0.7, Source::Ner),
            ];
            join_split_name(t, &mut found);
            assert!(found.iter().all(|f| f.entity == Entity::Person || f.entity == second));
            found.iter().map(|f| t[f.start..f.end].to_owned()).collect()
        };
        let t = "sono Fausto Avogadro.";
        assert_eq!(joined(t, (5, 11), (12, 20), Entity::Organization), ["Fausto Avogadro"]);
        // A family name before a word that names a firm is the firm's.
        let firm = "Collins Holdings";
        let mut found = vec![
            Finding::new(Entity::Person, 0, 7, 0.9, Source::Ner),
            Finding::new(Entity::Organization, 8, 16, 0.7, Source::Ner),
        ];
        join_split_name(firm, &mut found);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].entity, found[0].start, found[0].end), (Entity::Organization, 0, 16));
        assert_eq!(joined(t, (5, 11), (12, 20), Entity::Person), ["Fausto Avogadro"]);
        // Not after a whole name, not across a comma, not a word in lower case.
        let t = "Maria Lopez Google";
        assert_eq!(joined(t, (0, 11), (12, 18), Entity::Organization), ["Maria Lopez", "Google"]);
        let t = "Anna, Berlin";
        assert_eq!(joined(t, (0, 4), (6, 12), Entity::Location), ["Anna", "Berlin"]);
        let t = "Anna berlin";
        assert_eq!(joined(t, (0, 4), (5, 11), Entity::Location), ["Anna", "berlin"]);
    }

    #[test]
    fn spanish_imperatives_with_a_pronoun_are_no_name() {
        for word in
            ["Envíelo", "Llámame", "Confírmeselo", "Mándenos", "Revíselos", "Escríbame", "Dígalo"]
        {
            assert!(imperative_with_clitic(word), "{word}");
            assert!(!plausible(Entity::Location, word), "{word}");
        }
        // Names of a like shape, and words without the stress mark.
        for word in ["Rómulo", "Ángela", "Ítalo", "Críspulo", "Ángelo", "Marcelo", "Envielo"] {
            assert!(!imperative_with_clitic(word), "{word}");
        }
        assert!(plausible(Entity::Person, "Rómulo"));
    }

    #[test]
    fn the_capitalised_word_after_a_name_and_aus_is_an_origin() {
        let origins_in = |t: &str, name: &str| -> Vec<String> {
            let at = t.find(name).unwrap_or(0);
            let found = [Finding::new(Entity::Person, at, at + name.len(), 0.9, Source::Ner)];
            origins(t, &found).into_iter().map(|(s, e)| t[s..e].to_owned()).collect()
        };
        assert_eq!(origins_in("Ich bin Janus Wirth aus Hettstedt.", "Janus Wirth"), ["Hettstedt"]);
        assert_eq!(origins_in("Anna uit Bergen-op-Zoom zegt hoi", "Anna"), ["Bergen-op-Zoom"]);
        assert_eq!(origins_in("Anna aus Ulm", "Anna"), ["Ulm"]);
        // Lower case, acronyms, short words, other prepositions: no origin.
        for t in ["Anna aus dem Büro", "Anna aus HR", "Anna aus Xi", "Anna from Leeds"] {
            assert_eq!(origins_in(t, "Anna"), Vec::<String>::new(), "{t}");
        }
    }
}
