//! Which words and lines of a text the NER model needs to read.
//!
//! In text that uses capitals at all, a name is written with one: the NER
//! stage keeps only spans that start with a capital (`ner::clean`). So a
//! line is worth the model's time only when it has a capitalised word that
//! is not just a function word, a greeting, a weekday or a shouted keyword
//! (`INFO`, `GET`). Code, logs, JSON and most chat lines have none, and the
//! model never reads them. Within the lines that have one, the model reads
//! only those words, with a few tokens around them as context
//! ([`spans_to_read_with`]); a line in capitals throughout is read whole. Text
//! without any capital (chat typed in lower case) is read whole.

use std::collections::HashSet;

use regex::Regex;

use super::{ceil_boundary, floor_boundary};
use std::sync::{LazyLock, OnceLock};

/// `(start, end)` byte ranges of the lines of `text` that may hold a name.
pub fn lines_to_read(text: &str) -> Vec<(usize, usize)> {
    let cased = text.chars().any(char::is_uppercase);
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let body = line.trim_end();
        if !body.trim().is_empty() && (!cased || may_hold_a_name(body)) {
            out.push((start, start + body.len()));
        }
        start = end;
    }
    out
}

/// [`spans_to_read_with`] the text's own [`cued_names`].
#[cfg(test)]
pub fn spans_to_read(text: &str) -> Vec<(usize, usize)> {
    spans_to_read_with(text, &cued_names(text))
}

/// `(start, end)` byte ranges the NER model needs to read: in cased text,
/// each word that may be (part of) a name, a whole line in capitals, and
/// the `cued` words ([`cued_names`]); in text without capitals, every line.
pub fn spans_to_read_with(text: &str, cued: &[(usize, usize)]) -> Vec<(usize, usize)> {
    if !text.chars().any(char::is_uppercase) {
        return lines_to_read(text);
    }
    let mut out = Vec::new();
    for (start, end) in lines_to_read(text) {
        let line = &text[start..end];
        if !line.chars().any(char::is_lowercase) {
            out.push((start, end));
            continue;
        }
        out.extend(candidates(line, false).into_iter().map(|(s, e)| (start + s, start + e)));
    }
    if !cued.is_empty() {
        out.extend_from_slice(cued);
        out.sort_unstable();
        out.dedup();
    }
    out
}

/// Words in lower case that a phrase presents as a name, in text that
/// otherwise writes names with capitals ("Hi, my name is kevin o'brien",
/// "I live in cork", "thanks, dave"): up to three words after the phrase, to the next
/// punctuation or function word. The model reads them, and what it tags
/// there is kept although it has no capital.
pub fn cued_names(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if !text.chars().any(char::is_uppercase) {
        return out; // text in lower case is read whole
    }
    for cue in CUE.find_iter(text) {
        let (mut at, mut end) = (cue.end(), cue.end());
        for _ in 0..3 {
            let rest = &text[at..];
            let word = &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())];
            let name = word.trim_end_matches([',', '.', '!', '?', ';', ':', ')']);
            let lower = name.chars().all(|c| c.is_lowercase() || matches!(c, '\'' | '’' | '-'));
            if name.is_empty() || !lower || is_stop_word(name) {
                break;
            }
            end = at + name.len();
            if name.len() < word.len() || !rest[word.len()..].starts_with(' ') {
                break;
            }
            at += word.len() + 1;
        }
        if end > cue.end() {
            out.push((cue.end(), end));
        }
    }
    out
}

/// The phrases of [`cued_names`], in the languages the stop words cover.
#[allow(clippy::expect_used)] // a constant pattern, compiled by every test run
static CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        "(?i)\\b(?:my name is|my name's|name is|i am|i'm|i’m|this is|call me|i live in|\
         i'm from|i am from|je m'appelle|je m’appelle|je suis|j'habite à|me llamo|\
         mi nombre es|soy|vivo en|ich bin|ich heiße|mein name ist|ich wohne in|mi chiamo|\
         sono|abito a|meu nome é|eu sou|moro em|mijn naam is|ik ben|ik woon in|\
         thanks,?|thank you,|thx,?|cheers,?|regards,|best,|grazie,|merci,|danke,|gracias,) ",
    )
    .expect("cue pattern compiles")
});

/// The words of a line, as byte ranges, trimmed of apostrophes and hyphens.
fn words(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    for word in line.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
    {
        let trimmed = word.trim_matches(['\'', '’', '-']);
        if !trimmed.is_empty() {
            let from = at + word.find(trimmed).unwrap_or(0);
            out.push((from, from + trimmed.len()));
        }
        at += word.len() + line[at + word.len()..].chars().next().map_or(0, char::len_utf8);
    }
    out
}

/// The words of `line` that may be (part of) a name. In a line that also
/// has lower case (`shouted` false), a word in capitals is an acronym or a
/// log keyword unless it reads like a name written in capitals, as forms
/// and records write them ("Patient: JOHNSON, MARY E."): a word of four
/// letters or more, or one next to another such word, that is not a known
/// keyword. A word inside a code token ("com.acme.InvoiceService.render(")
/// is not a name.
fn candidates(line: &str, shouted: bool) -> Vec<(usize, usize)> {
    let words = words(line);
    let bytes = line.as_bytes();
    let caps_name = |i: usize| {
        words.get(i).is_some_and(|&(s, e)| {
            let w = &line[s..e];
            // SCREAMING_SNAKE_CASE is an identifier (`OPENAI_API_KEY`).
            let snake = (s > 0 && bytes[s - 1] == b'_') || bytes.get(e) == Some(&b'_');
            !snake
                && w.chars().count() >= 2
                && w.chars().all(|c| c.is_alphabetic() && !c.is_lowercase())
                && !is_stop_word(w)
                && !keywords().contains(w.to_lowercase().as_str())
        })
    };
    let mut out = Vec::new();
    for (i, &(s, e)) in words.iter().enumerate() {
        let word = &line[s..e];
        let wanted = if shouted || word.chars().count() == 1 || word.chars().any(char::is_lowercase)
        {
            is_candidate(word)
        } else {
            caps_name(i)
                && (word.chars().count() >= 4 || (i > 0 && caps_name(i - 1)) || caps_name(i + 1))
        };
        if wanted && !in_code(line, s, e) {
            out.push((s, e));
        }
    }
    out
}

/// Whether the word `line[start..end]` is part of a code token: a path
/// (`a::b`, `a->b`), a call (`render(`), a package path that starts in
/// lower case with two dots or more (`com.acme.Invoice`), or a source file
/// name (`InvoiceService.java`).
fn in_code(line: &str, start: usize, end: usize) -> bool {
    let token_start = line[..start].rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let token_end = line[end..].find(char::is_whitespace).map_or(line.len(), |i| end + i);
    let token =
        line[token_start..token_end].trim_start_matches(['"', '\'', '`', '(', '[', '{', '<']);
    let bytes = token.as_bytes();
    let joined = |i: usize| {
        i > 0
            && bytes[i - 1].is_ascii_alphanumeric()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic)
    };
    if token.contains("::") || token.contains("->") {
        return true;
    }
    if bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'(' && i > 0 && bytes[i - 1].is_ascii_alphanumeric())
    {
        return true;
    }
    let dots = bytes.iter().enumerate().filter(|&(i, &b)| b == b'.' && joined(i)).count();
    if dots >= 2 && token.starts_with(|c: char| c.is_ascii_lowercase()) {
        return true;
    }
    let rest = &line[end..token_end];
    rest.strip_prefix('.').is_some_and(|r| {
        let ext = r.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("");
        SOURCE_EXTENSIONS.split_whitespace().any(|x| x == ext)
    })
}

/// File name extensions of source code.
const SOURCE_EXTENSIONS: &str =
    "java kt scala py rs js mjs cjs ts tsx jsx go rb cs cpp cc cxx hpp hh c h m mm swift php sh";

/// The byte ranges of `text` to tokenize for the `spans` (sorted) the model
/// reads: each span with `margin` bytes on each side, widened to the next
/// whitespace (so no word is cut and the tokens are those of the whole
/// text), ranges that touch merged. Tokenizing only these keeps the cost of
/// a long text with a few names to the few lines around them.
pub fn regions_around(text: &str, spans: &[(usize, usize)], margin: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in spans {
        let start = word_start(text, a.saturating_sub(margin));
        let end = word_end(text, (b + margin).min(text.len()));
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// How far [`regions_around`] looks for the edge of a word; text without
/// spaces is cut at a character instead.
const LONGEST_WORD: usize = 64;

/// `at` moved back to the start of its word.
fn word_start(text: &str, at: usize) -> usize {
    let at = floor_boundary(text, at);
    let from = floor_boundary(text, at.saturating_sub(LONGEST_WORD));
    match text[from..at].rfind(char::is_whitespace) {
        Some(i) => from + i + text[from + i..].chars().next().map_or(1, char::len_utf8),
        None if from == 0 => 0,
        None => at,
    }
}

/// `at` moved on to the end of its word.
fn word_end(text: &str, at: usize) -> usize {
    let at = ceil_boundary(text, at);
    let to = ceil_boundary(text, (at + LONGEST_WORD).min(text.len()));
    match text[at..to].find(char::is_whitespace) {
        Some(i) => at + i,
        None if to == text.len() => to,
        None => at,
    }
}

fn may_hold_a_name(line: &str) -> bool {
    // A line in capitals throughout ("NAME: JOHN SMITH") is read whole.
    let shouted = !line.chars().any(char::is_lowercase);
    !candidates(line, shouted).is_empty()
}

/// A capitalised word that may be (part of) a name: no digits, and not a
/// function word, greeting, weekday or label.
fn is_candidate(word: &str) -> bool {
    word.starts_with(char::is_uppercase)
        && !word.chars().any(|c| c.is_ascii_digit())
        && !stop_words().contains(word.to_lowercase().as_str())
}

/// Whether `word` (any case) is one of the words that are never a name on
/// their own.
pub fn is_stop_word(word: &str) -> bool {
    stop_words().contains(word.to_lowercase().as_str())
}

/// Words written in capitals that are not names: log levels, HTTP, SQL and
/// shell keywords, and the acronyms of computing, business and units.
fn keywords() -> &'static HashSet<&'static str> {
    static WORDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| KEYWORDS.split_whitespace().collect())
}

const KEYWORDS: &str = "
trace debug info notice warn warning error err fatal crit critical alert emerg panic severe fine
ok okay fail failed failure success succeeded pass passed done pending running started stopped
timeout denied refused rejected accepted retry retrying aborted skipped unknown none null nil
true false yes no on off enabled disabled todo fixme xxx hack nb ps asap fyi eta faq tbd
get post put patch delete head options connect http https tcp udp tls ssl ssh ftp smtp imap dns
url uri api rest grpc json xml yaml toml csv html css pdf png jpeg jpg gif svg utf ascii uuid
guid sql select from where insert into values update create table drop alter index join inner
outer left right group order by having limit and or not is as on in set begin commit rollback
primary key foreign references unique default check constraint view trigger returning
cpu gpu ram ssd hdd os io usb lan wan vpn ip id pid uid gid env dev prod qa ci cd pr mr sdk cli
gui ui ux llm ai ml nlp ocr pii gdpr hipaa sla kpi roi okr crm erp hr ceo cto cfo coo vp pm
usd eur gbp jpy chf cad aud cny inr utc gmt cet est pst edt pdt am pm bst ist
readme license changelog makefile dockerfile note important urgent attention caution
";

/// Capitalised words that are not names: sentence starters, greetings,
/// weekdays and months, and the labels of personal data ("IBAN", "Nummer"),
/// in the languages the fixtures and users write.
fn stop_words() -> &'static HashSet<&'static str> {
    static WORDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| STOP_WORDS.split_whitespace().collect())
}

const STOP_WORDS: &str = "
a an the this that these those it its i i'm i've i'd i'll we you he she they me us them my our
your his her their there here what which who whom whose why how when where whether if then than
and but or nor so yet also not no yes ok okay please thanks thank hi hello hey dear regards best
cheers sincerely kind good great sure well just now today tomorrow yesterday tonight is are was
were be been am do does did done have has had can could would should will shall may might must
let let's all any some each every both either neither many much more most few other another such
same only own as at by for from in into of off on onto out over to up with without about above
after again against before below between during through under until upon via per new next last
first second third one two three note notes fyi re fw fwd subject from to cc bcc date sent
summarize summarise translate write rewrite explain describe list give tell show find create
make use add remove delete set run check update fix see get send read review compare convert
generate answer help draft reply call ask keep try need want know think look please
monday tuesday wednesday thursday friday saturday sunday january february march april june
july august september october november december
user assistant system question answer example total error warning info debug note todo
friend colleague boss manager wife husband partner brother sister mother father son daughter
uncle aunt cousin neighbour neighbor landlord landlady tenant customer client coworker
mr mrs ms miss mx dr prof sir madam mme mlle herr frau hr fr sr sra srta dott sig sig.ra
christmas xmas easter thanksgiving halloween hanukkah ramadan eid diwali weihnachten ostern
noël noel pâques navidad pascua natale pasqua
iban bic swift ssn dob pin cvv cvc ip url id vat tin ein email e-mail mail phone fax address
name surname nummer telefon adresse numéro téléfono teléfono telefono indirizzo dirección
der die das ein eine einer eines dem den des und oder aber bitte danke hallo liebe lieber sehr
geehrte geehrter damen herren guten tag morgen abend mit freundlichen grüßen gruß viele beste
ich du er sie es wir ihr mein meine unser unsere ist sind war waren hat haben wird werden kann
können im in am an auf aus bei für von zu zum zur nach vor über unter wie was wer wo wann warum
nicht kein keine auch noch schon heute gestern montag dienstag mittwoch donnerstag freitag samstag
sonntag januar februar märz mai juni juli oktober dezember termin
le la les un une des du de et ou mais merci bonjour bonsoir salut cher chère madame monsieur
cordialement je tu il elle nous vous ils elles mon ma mes notre votre est sont était ont avec pour
dans sur par pas ne plus ce cette ces qui que quoi où quand comment pourquoi aujourd'hui demain
hier lundi mardi mercredi jeudi vendredi samedi dimanche janvier février avril juin juillet août
septembre octobre novembre décembre
el los las una unos unas y o pero gracias hola buenos buenas días querido querida señor señora
saludos atentamente yo tú él ella nosotros ustedes es son era fue con por para en sobre sin no
sí muy qué quién dónde cuándo cómo hoy mañana ayer lunes martes miércoles jueves viernes sábado
domingo enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
il lo gli uno e ma grazie ciao buongiorno buonasera caro cara gentile distinti saluti io lui lei
noi voi loro sono è era ho ha hanno con per su tra fra non sì molto che chi dove quando come oggi
domani ieri lunedì martedì mercoledì giovedì venerdì sabato domenica gennaio febbraio aprile
maggio giugno luglio settembre ottobre novembre dicembre
";

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<&str> {
        lines_to_read(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn lines_without_a_possible_name_are_skipped() {
        let text = "2025-03-02 10:11:12 INFO GET /api/v1/items?page=3 200\n\
                    {\"user\": \"u_1842\", \"plan\": \"pro\"}\n\
                    Please summarize the report for Tuesday.\n\
                    Ask Maria Keller about it.\n\
                    Sehr geehrte Damen und Herren,\n\
                    NAME: JOHN SMITH\n";
        assert_eq!(read(text), ["Ask Maria Keller about it.", "NAME: JOHN SMITH"]);
    }

    #[test]
    fn in_cased_text_only_candidate_words_are_read() {
        let text = "Please ask Maria Keller-Wyss about it.\nNAME: JOHN SMITH\nnothing here";
        let spans: Vec<&str> = spans_to_read(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(spans, ["Maria", "Keller-Wyss", "NAME: JOHN SMITH"]);
        assert_eq!(spans_to_read("ask maria"), [(0, 9)]);
    }

    #[test]
    fn names_in_capitals_are_read_acronyms_and_keywords_are_not() {
        let spans = |text: &'static str| -> Vec<&'static str> {
            spans_to_read(text).into_iter().map(|(s, e)| &text[s..e]).collect()
        };
        assert_eq!(spans("patient: JOHNSON, MARY E. seen today"), ["JOHNSON", "MARY"]);
        assert_eq!(spans("defendant LI WEI appeared"), ["LI", "WEI"]);
        assert!(spans("status=503 WARN retry via HTTP GET, JSON body OK").is_empty());
        assert!(spans("the US team met the EU team").is_empty());
        assert!(spans("export OPENAI_API_KEY=x and MAX_RETRIES=3 # later").is_empty());
    }

    #[test]
    fn words_inside_code_tokens_are_not_read() {
        let spans = |text: &'static str| -> Vec<&'static str> {
            spans_to_read(text).into_iter().map(|(s, e)| &text[s..e]).collect()
        };
        assert!(
            spans("error at com.acme.billing.InvoiceService.render(InvoiceService.java:212)")
                .is_empty()
        );
        assert!(spans("call std::mem::Take or obj->Field or new Parser() here").is_empty());
        // Names next to dots that are not code are still read.
        assert_eq!(spans("ask Mr.Smith or J.Smith, see Anna.pdf"), ["Smith", "J", "Smith", "Anna"]);
        assert_eq!(spans("Dear Mr. Nakamura, merry Christmas"), ["Nakamura"]);
    }

    #[test]
    fn regions_take_whole_words_around_the_spans() {
        let text = "one two three Maria four five six seven eight Keller nine ten";
        let at = |w: &str| text.find(w).map(|i| (i, i + w.len())).unwrap_or_default();
        let got = |margin| -> Vec<&str> {
            regions_around(text, &[at("Maria"), at("Keller")], margin)
                .into_iter()
                .map(|(s, e)| &text[s..e])
                .collect()
        };
        // Margins that end inside a word take all of it.
        assert_eq!(got(3), ["three Maria four", "eight Keller nine"]);
        // Ranges that touch are merged; the text's edges bound them.
        assert_eq!(got(20), ["one two three Maria four five six seven eight Keller nine ten"]);
        // Text without spaces is cut at a character, never inside one.
        let cjk = "東京都千代田区丸の内一丁目".repeat(8);
        let r = regions_around(&cjk, &[(90, 93)], 4);
        assert_eq!(r, [(84, 99)]);
        assert!(cjk.is_char_boundary(r[0].0) && cjk.is_char_boundary(r[0].1));
    }

    #[test]
    fn text_in_lower_case_is_read_whole() {
        assert_eq!(read("ask maria about it\n\nok"), ["ask maria about it", "ok"]);
    }

    #[test]
    fn lower_case_words_after_a_name_cue_are_read() {
        let text =
            "Hi, my name is kevin o'brien and I live in cork, ireland. I'm sure. Ich bin anna.";
        let cued: Vec<&str> = cued_names(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(cued, ["kevin o'brien", "cork", "anna"]);
        // A name signed in lower case.
        let text = "Can someone ping Raj?\nthanks, dave";
        assert_eq!(cued_names(text), [(text.len() - 4, text.len())]);
        assert!(cued_names("Thanks for the help, thanks again").is_empty());
        // Capitalised names need no cue; function words are no name.
        assert!(cued_names("My name is Anna. This is the end, I am not sure.").is_empty());
        assert!(spans_to_read("Sure. my name is kevin").contains(&(17, 22)));
    }

    #[test]
    fn offsets_point_into_the_text() {
        let text = "x\r\nHallo Jürgen Weiß\r\n";
        let got = lines_to_read(text);
        assert_eq!(got.len(), 1);
        assert_eq!(&text[got[0].0..got[0].1], "Hallo Jürgen Weiß");
    }
}
