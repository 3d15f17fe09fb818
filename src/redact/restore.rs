//! Placeholders back to originals in answers (DESIGN §6).
//!
//! Models reformat what they copy: `[PERSON_1]` comes back as `[person_1]`,
//! `PERSON_1`, `<PERSON_1>`, `{{PERSON_1}}`, `\[PERSON\_1\]` (escaped
//! markdown) or `PERSON 1`. All of these are replaced, brackets included
//! when they pair up; a number the request never used is left alone.
//!
//! In a stream, a placeholder may be cut across chunks. [`StreamRestorer`]
//! holds back only the tail that could still grow into a placeholder and
//! releases everything before it at once, so time to first token does not
//! move.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use regex::Regex;

use super::entity::{Entity, EntitySet};

/// Longest tail ever held: opener, type name, separator, six digits, closer.
const MAX_HELD: usize = 48;

#[allow(clippy::expect_used)] // a constant pattern, compiled by every test run
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    let mut names: Vec<&str> = Entity::ALL.iter().map(|e| e.name()).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let types =
        names.iter().map(|n| n.replace('_', r"(?:\\?_|[ -])")).collect::<Vec<_>>().join("|");
    Regex::new(&format!(
        r"(?i)(\\?\[|<|\{{\{{|\{{)? ?({types})(?:\\?_|[ -])([0-9]{{1,6}})(?: ?(\\?\]|>|\}}\}}|\}}))?"
    ))
    .expect("placeholder pattern compiles")
});

/// The originals of one request's placeholders.
#[derive(Debug, Clone, Default)]
pub struct Restorer {
    values: HashMap<(Entity, u32), String>,
    types: EntitySet,
}

impl Restorer {
    pub fn new(values: HashMap<(Entity, u32), String>) -> Self {
        let types = values.keys().map(|(e, _)| *e).collect();
        Self { values, types }
    }

    /// Whether answers need any rewriting at all.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of placeholders this request used.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Restores plain text (message content).
    pub fn restore<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.replace(text, false)
    }

    /// Restores text that sits inside a JSON string (tool-call arguments):
    /// the originals are JSON-escaped.
    pub fn restore_json<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.replace(text, true)
    }

    fn replace<'a>(&self, text: &'a str, json: bool) -> Cow<'a, str> {
        if self.is_empty() || !text.is_char_boundary(0) {
            return Cow::Borrowed(text);
        }
        let mut out: Option<String> = None;
        let mut at = 0;
        for caps in PLACEHOLDER.captures_iter(text) {
            let (Some(whole), Some(name), Some(number)) = (caps.get(0), caps.get(2), caps.get(3))
            else {
                continue;
            };
            let open = caps.get(1);
            let close = caps.get(4);
            // A bare name must start a word and the number must end one.
            if open.is_none()
                && text[..name.start()]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            if close.is_none()
                && text[number.end()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let Some(entity) = Entity::parse(&name.as_str().replace('\\', "")) else { continue };
            let Ok(n) = number.as_str().parse::<u32>() else { continue };
            let Some(value) = self.values.get(&(entity, n)) else { continue };
            let paired = match (open.map(|m| m.as_str()), close.map(|m| m.as_str())) {
                (Some(o), Some(c)) => matches!(
                    (o.trim_start_matches('\\'), c.trim_start_matches('\\')),
                    ("[", "]") | ("<", ">") | ("{", "}") | ("{{", "}}")
                ),
                _ => false,
            };
            let (start, end) =
                if paired { (whole.start(), whole.end()) } else { (name.start(), number.end()) };
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 32));
            buf.push_str(&text[at..start]);
            if json {
                let quoted = serde_json::to_string(value).unwrap_or_default();
                buf.push_str(quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or(""));
            } else {
                buf.push_str(value);
            }
            at = end;
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut buf) => {
                buf.push_str(&text[at..]);
                Cow::Owned(buf)
            }
        }
    }

    /// Where the tail that could still grow into a placeholder starts
    /// (`text.len()` when nothing needs holding).
    pub fn held_from(&self, text: &str) -> usize {
        if self.is_empty() {
            return text.len();
        }
        let mut from = text.len().saturating_sub(MAX_HELD);
        while !text.is_char_boundary(from) {
            from += 1;
        }
        for (i, c) in text[from..].char_indices() {
            let p = from + i;
            let starts = matches!(c, '[' | '<' | '{' | '\\')
                || (c.is_ascii_alphabetic()
                    && !text[..p]
                        .chars()
                        .next_back()
                        .is_some_and(|b| b.is_alphanumeric() || b == '_'));
            if starts && self.could_grow(&text[p..]) {
                return p;
            }
        }
        text.len()
    }

    /// `s` is a proper prefix of some placeholder form of a used type.
    fn could_grow(&self, s: &str) -> bool {
        let mut rest = s;
        let mut double_brace = false;
        for opener in [r"\[", "[", "<", "{{", "{"] {
            if let Some(r) = rest.strip_prefix(opener) {
                double_brace = opener == "{{";
                rest = r;
                break;
            }
            if opener.starts_with(rest) && !rest.is_empty() {
                return true; // "\" or "{" alone
            }
        }
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        if rest.is_empty() {
            return s != rest; // an opener alone may continue
        }
        let mut norm: String = rest
            .replace(r"\_", "_")
            .chars()
            .map(|c| if c == ' ' || c == '-' { '_' } else { c.to_ascii_uppercase() })
            .collect();
        if norm.ends_with('\\') {
            norm.pop();
            norm.push('_');
        }
        self.types.iter().any(|entity| {
            let name = format!("{}_", entity.name());
            if name.starts_with(&norm) {
                return true;
            }
            let Some(tail) = norm.strip_prefix(&name) else { return false };
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 6 {
                return false;
            }
            let after = &tail[digits..];
            matches!(after, "" | "_" | "\\" | "_\\")
                || (double_brace && matches!(after, "}" | "_}"))
        })
    }
}

/// Which text of a streamed choice a delta belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Content,
    /// A tool call's `function.arguments`, by the call's index.
    ToolArguments(u64),
}

/// Rewrites the text deltas of a stream: restoration (standard mode) or
/// redaction (strict mode).
pub trait StreamRewriter: Send {
    /// Takes one delta; returns the text that can be sent now.
    fn push(
        &mut self,
        choice: u64,
        field: Field,
        delta: &str,
    ) -> Result<String, crate::error::ApiError>;
    /// Releases everything held for `choice` (it is finishing).
    fn flush_choice(&mut self, choice: u64)
    -> Result<Vec<(Field, String)>, crate::error::ApiError>;
    /// Choices that still hold text.
    fn pending_choices(&self) -> Vec<u64>;
}

/// Restoration across the chunks of one stream.
#[derive(Debug)]
pub struct StreamRestorer {
    restorer: Arc<Restorer>,
    pending: Held,
}

/// Strict mode: answer text is redacted before the client sees it. Content
/// is released a line or sentence at a time (a value never spans those);
/// tool-call arguments are JSON and go out whole when their choice ends.
pub struct StreamScanner {
    redaction: Box<super::Redaction>,
    pending: Held,
}

/// Past this, content is released at the last whitespace even mid-sentence.
const SCAN_MAX_HELD: usize = 4096;

impl StreamScanner {
    pub fn new(redaction: Box<super::Redaction>) -> Self {
        Self { redaction, pending: Held::default() }
    }

    fn scan(&self, mut text: String) -> Result<String, crate::error::ApiError> {
        self.redaction.scan_answer(&mut text)?;
        Ok(text)
    }
}

/// End of the last complete line or sentence in `text`.
fn sentence_cut(text: &str) -> usize {
    let bytes = text.as_bytes();
    for i in (0..bytes.len()).rev() {
        let boundary = bytes[i] == b'\n'
            || (matches!(bytes[i], b' ' | b'\t')
                && i > 0
                && matches!(bytes[i - 1], b'.' | b'!' | b'?'));
        if boundary {
            return i + 1;
        }
    }
    if text.len() > SCAN_MAX_HELD {
        return text.rfind(char::is_whitespace).map_or(text.len(), |i| i + 1);
    }
    0
}

impl StreamRewriter for StreamScanner {
    fn push(
        &mut self,
        choice: u64,
        field: Field,
        delta: &str,
    ) -> Result<String, crate::error::ApiError> {
        let ready = match field {
            Field::Content => self.pending.push(choice, field, delta, sentence_cut),
            Field::ToolArguments(_) => self.pending.push(choice, field, delta, |_| 0),
        };
        if ready.is_empty() { Ok(ready) } else { self.scan(ready) }
    }

    fn flush_choice(
        &mut self,
        choice: u64,
    ) -> Result<Vec<(Field, String)>, crate::error::ApiError> {
        self.pending.take_choice(choice).into_iter().map(|(f, t)| Ok((f, self.scan(t)?))).collect()
    }

    fn pending_choices(&self) -> Vec<u64> {
        self.pending.choices()
    }
}

/// Text held per (choice, field).
#[derive(Debug, Default)]
struct Held(HashMap<(u64, Field), String>);

impl Held {
    /// Appends `delta` and splits off what `cut` says may go now.
    fn push(
        &mut self,
        choice: u64,
        field: Field,
        delta: &str,
        cut: impl Fn(&str) -> usize,
    ) -> String {
        let buf = self.0.entry((choice, field)).or_default();
        buf.push_str(delta);
        let at = cut(buf);
        let held = buf.split_off(at);
        std::mem::replace(buf, held)
    }

    fn take_choice(&mut self, choice: u64) -> Vec<(Field, String)> {
        let keys: Vec<(u64, Field)> =
            self.0.keys().filter(|(c, _)| *c == choice).copied().collect();
        let mut out: Vec<(Field, String)> = keys
            .into_iter()
            .filter_map(|k| self.0.remove(&k).filter(|t| !t.is_empty()).map(|t| (k.1, t)))
            .collect();
        out.sort_by_key(|(f, _)| match f {
            Field::Content => 0,
            Field::ToolArguments(i) => 1 + *i,
        });
        out
    }

    fn choices(&self) -> Vec<u64> {
        let mut choices: Vec<u64> =
            self.0.iter().filter(|(_, t)| !t.is_empty()).map(|((c, _), _)| *c).collect();
        choices.sort_unstable();
        choices.dedup();
        choices
    }
}

impl StreamRewriter for StreamRestorer {
    fn push(
        &mut self,
        choice: u64,
        field: Field,
        delta: &str,
    ) -> Result<String, crate::error::ApiError> {
        let restorer = self.restorer.clone();
        let ready = self.pending.push(choice, field, delta, |b| restorer.held_from(b));
        Ok(self.convert(field, &ready))
    }

    fn flush_choice(
        &mut self,
        choice: u64,
    ) -> Result<Vec<(Field, String)>, crate::error::ApiError> {
        Ok(self
            .pending
            .take_choice(choice)
            .into_iter()
            .map(|(f, t)| (f, self.convert(f, &t)))
            .collect())
    }

    fn pending_choices(&self) -> Vec<u64> {
        self.pending.choices()
    }
}

impl StreamRestorer {
    pub fn new(restorer: Arc<Restorer>) -> Self {
        Self { restorer, pending: Held::default() }
    }

    fn convert(&self, field: Field, text: &str) -> String {
        match field {
            Field::Content => self.restorer.restore(text).into_owned(),
            Field::ToolArguments(_) => self.restorer.restore_json(text).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restorer() -> Restorer {
        Restorer::new(HashMap::from([
            ((Entity::Person, 1), "Ada Lovelace".to_owned()),
            ((Entity::Person, 2), "O\"Brien".to_owned()),
            ((Entity::EmailAddress, 1), "ada@example.com".to_owned()),
        ]))
    }

    #[test]
    fn reformatted_placeholders_are_restored() {
        let r = restorer();
        for form in [
            "[PERSON_1]",
            "[person_1]",
            "PERSON_1",
            "<PERSON_1>",
            "{{PERSON_1}}",
            r"\[PERSON\_1\]",
            "Person 1",
            "[ PERSON_1 ]",
        ] {
            assert_eq!(r.restore(&format!("Hi {form}!")), "Hi Ada Lovelace!", "{form}");
        }
        assert_eq!(r.restore("**[PERSON_1]**"), "**Ada Lovelace**");
        assert_eq!(r.restore("mail [EMAIL_ADDRESS_1]"), "mail ada@example.com");
        assert_eq!(r.restore("EMAIL ADDRESS 1"), "ada@example.com");
    }

    #[test]
    fn unknown_numbers_and_glued_words_stay() {
        let r = restorer();
        assert_eq!(
            r.restore("[PERSON_9] and XPERSON_1 and PERSON_12"),
            "[PERSON_9] and XPERSON_1 and PERSON_12"
        );
        assert_eq!(r.restore("(PERSON_1)"), "(Ada Lovelace)");
        assert_eq!(r.restore("[PERSON_1>"), "[Ada Lovelace>");
    }

    #[test]
    fn json_context_escapes() {
        let r = restorer();
        assert_eq!(r.restore_json(r#"{"name":"[PERSON_2]"}"#), r#"{"name":"O\"Brien"}"#);
    }

    #[test]
    fn holds_only_what_could_grow() {
        let r = restorer();
        assert_eq!(r.held_from("Hello [PER"), 6);
        assert_eq!(r.held_from("Hello [PERSON_1"), 6);
        assert_eq!(r.held_from("Hello PERSON_"), 6);
        assert_eq!(r.held_from("Hello pe"), 6);
        assert_eq!(r.held_from("Hello ["), 6);
        assert_eq!(r.held_from("Hello there"), 11);
        assert_eq!(r.held_from("Hello [PERSON_1] ok"), 19);
        assert_eq!(r.held_from("Hello [Paris"), 12);
        assert_eq!(Restorer::default().held_from("Hello [PER"), 10);
    }

    #[test]
    fn stream_split_anywhere() {
        let r = Arc::new(restorer());
        let answer = "Dear [PERSON_1], write to <EMAIL_ADDRESS_1> or PERSON_2.";
        let want = "Dear Ada Lovelace, write to ada@example.com or O\"Brien.";
        for cut in 0..answer.len() {
            let mut s = StreamRestorer::new(r.clone());
            let mut got = s.push(0, Field::Content, &answer[..cut]).unwrap();
            got += &s.push(0, Field::Content, &answer[cut..]).unwrap();
            for (_, t) in s.flush_choice(0).unwrap() {
                got += &t;
            }
            assert_eq!(got, want, "cut at {cut}");
        }
    }
}
