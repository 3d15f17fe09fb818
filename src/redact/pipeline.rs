//! The text pipeline: recognizers → threshold → allow/deny → merge of
//! overlapping findings → operator. A [`Session`] is one request: its
//! placeholders are numbered by first appearance across every text it
//! redacts, and the same value always gets the same placeholder.

use std::collections::HashMap;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::dictionary::Dictionary;
use super::entity::{Entity, EntitySet, Finding, Source};
use super::patterns::Patterns;
use super::restore::Restorer;
use super::{RedactError, Redactor};

/// What replaces a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// `[TYPE_n]`, restored in the answer.
    #[default]
    Placeholder,
    /// The value's characters replaced by `*`.
    Mask,
    /// A keyed hash of the value (16 hex digits): equal values stay equal,
    /// and the value cannot be recovered without the deployment's key.
    Hash,
    /// Removed.
    Remove,
}

/// Per-request text settings (`piiConfig.text` and `piiEntities`).
#[derive(Debug, Clone)]
pub struct TextConfig {
    pub entities: EntitySet,
    pub threshold: f32,
    pub operator: Operator,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            entities: EntitySet::all(),
            threshold: 0.5,
            operator: Operator::Placeholder,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// The recognizers of a deployment, built once at start.
pub struct Pipeline {
    patterns: Patterns,
    ner: Option<Arc<dyn Redactor>>,
    lists: Option<Dictionary>,
    hash_key: Vec<u8>,
}

impl Pipeline {
    /// `lists`: the operator's typed word lists; `hash_key`: keys the `hash`
    /// operator.
    pub fn new(
        ner: Option<Arc<dyn Redactor>>,
        lists: Vec<(Entity, String)>,
        hash_key: Vec<u8>,
    ) -> Result<Self, RedactError> {
        let patterns = Patterns::new().map_err(|e| RedactError::Setup(e.to_string()))?;
        Ok(Self { patterns, ner, lists: Dictionary::new(lists), hash_key })
    }

    /// Whether a NER model is loaded.
    pub fn has_ner(&self) -> bool {
        self.ner.is_some()
    }

    pub fn session(self: &Arc<Self>, config: TextConfig) -> Session {
        // A deny value is typed by the pattern rules when one matches it
        // whole (an e-mail stays EMAIL_ADDRESS), else it is CUSTOM.
        let deny = Dictionary::new(config.deny.iter().map(|v| (self.type_of(v), v.clone())));
        let allow = Dictionary::new(config.allow.iter().map(|v| (Entity::Custom, v.clone())));
        Session {
            pipeline: self.clone(),
            config,
            allow,
            deny,
            placeholders: Placeholders::default(),
        }
    }

    fn type_of(&self, value: &str) -> Entity {
        let value = value.trim();
        let mut found = Vec::new();
        let _ = self.patterns.find(value, EntitySet::all(), &mut found);
        found
            .into_iter()
            .find(|f| f.start == 0 && f.end == value.len())
            .map_or(Entity::Custom, |f| f.entity)
    }
}

/// One request's view of the pipeline.
pub struct Session {
    pipeline: Arc<Pipeline>,
    config: TextConfig,
    allow: Option<Dictionary>,
    deny: Option<Dictionary>,
    placeholders: Placeholders,
}

impl Session {
    pub fn config(&self) -> &TextConfig {
        &self.config
    }

    /// Findings of several texts (the NER stage runs them as one batch),
    /// merged, thresholded and allow-filtered, sorted by start.
    pub fn analyze(&self, texts: &[&str]) -> Result<Vec<Vec<Finding>>, RedactError> {
        let wanted = self.config.entities;
        let mut all: Vec<Vec<Finding>> = vec![Vec::new(); texts.len()];
        for (text, out) in texts.iter().zip(all.iter_mut()) {
            self.pipeline.patterns.find(text, wanted, out)?;
            if let Some(lists) = &self.pipeline.lists {
                let mut listed = Vec::new();
                lists.find(text, &mut listed);
                out.extend(listed.into_iter().filter(|f| wanted.contains(f.entity)));
            }
        }
        if let Some(ner) = &self.pipeline.ner {
            let ner_types: EntitySet =
                EntitySet::ner().iter().filter(|e| wanted.contains(*e)).collect();
            if ner_types != EntitySet::empty() {
                let found = ner.find_batch(texts, ner_types)?;
                for (out, found) in all.iter_mut().zip(found) {
                    out.extend(found);
                }
            }
        }
        for (text, out) in texts.iter().zip(all.iter_mut()) {
            out.retain(|f| f.score >= self.config.threshold);
            // A rule-validated value outranks the model: a NER span that
            // overlaps one keeps only what lies outside it, and only when
            // that still holds a word ("42 Wallaby Way, Sydney" tagged whole
            // by the model keeps "Sydney" next to the rule's address).
            let ruled: Vec<(usize, usize)> =
                out.iter().filter(|f| f.source != Source::Ner).map(|f| (f.start, f.end)).collect();
            if out.iter().any(|f| f.source == Source::Ner && overlaps_any(f, &ruled)) {
                let (clashing, mut kept): (Vec<Finding>, Vec<Finding>) = std::mem::take(out)
                    .into_iter()
                    .partition(|f| f.source == Source::Ner && overlaps_any(f, &ruled));
                for f in clashing {
                    kept.extend(outside(text, &f, &ruled));
                }
                *out = kept;
            }
            if let Some(deny) = &self.deny {
                // Denied values are redacted whatever the entity filter says.
                deny.find(text, out);
            }
            if let Some(allow) = &self.allow {
                let allowed = allow.spans(text);
                out.retain(|f| !allowed.iter().any(|&(s, e)| s <= f.start && f.end <= e));
            }
            *out = merge(std::mem::take(out));
        }
        Ok(all)
    }

    /// Redacts `text` given its findings (from [`Session::analyze`]).
    pub fn apply(&mut self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in findings {
            out.push_str(&text[at..f.start]);
            let value = &text[f.start..f.end];
            match self.config.operator {
                Operator::Placeholder => {
                    let n = self.placeholders.number(f.entity, value);
                    out.push('[');
                    out.push_str(f.entity.name());
                    out.push('_');
                    push_number(&mut out, n);
                    out.push(']');
                }
                Operator::Mask => out.extend(value.chars().map(|_| '*')),
                Operator::Hash => out.push_str(&self.hash(f.entity, value)),
                Operator::Remove => {}
            }
            at = f.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Analyzes and redacts one text.
    pub fn redact(&mut self, text: &str) -> Result<(String, Vec<Finding>), RedactError> {
        let findings = self.analyze(&[text])?.pop().unwrap_or_default();
        Ok((self.apply(text, &findings), findings))
    }

    fn hash(&self, entity: Entity, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.pipeline.hash_key) else {
            return String::new();
        };
        mac.update(entity.name().as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// What puts the originals back; empty unless the operator is
    /// `placeholder`.
    pub fn restorer(&self) -> Restorer {
        if self.config.operator != Operator::Placeholder {
            return Restorer::default();
        }
        Restorer::new(self.placeholders.by_number.clone())
    }
}

/// Appends `n` in decimal (`write!` costs more than the rest of a
/// placeholder's redaction).
fn push_number(out: &mut String, n: u32) {
    let mut digits = [0_u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// Placeholder numbers of one request.
#[derive(Debug, Default)]
struct Placeholders {
    by_value: HashMap<Entity, HashMap<String, u32>>,
    by_number: HashMap<(Entity, u32), String>,
    next: HashMap<Entity, u32>,
}

impl Placeholders {
    fn number(&mut self, entity: Entity, value: &str) -> u32 {
        let numbers = self.by_value.entry(entity).or_default();
        if let Some(n) = numbers.get(value) {
            return *n;
        }
        let next = self.next.entry(entity).or_insert(0);
        *next += 1;
        let n = *next;
        numbers.insert(value.to_owned(), n);
        self.by_number.insert((entity, n), value.to_owned());
        n
    }
}

fn overlaps_any(f: &Finding, spans: &[(usize, usize)]) -> bool {
    spans.iter().any(|&(s, e)| f.start < e && s < f.end)
}

/// The pieces of the model's finding `f` outside the rule-found `spans`,
/// trimmed of spaces and punctuation, that still hold a word of two
/// letters or more that can be a name ("IBAN" before the IBAN a rule
/// found is a label, not the organisation the model took it for).
fn outside(text: &str, f: &Finding, spans: &[(usize, usize)]) -> Vec<Finding> {
    let mut cuts: Vec<(usize, usize)> =
        spans.iter().copied().filter(|&(s, e)| f.start < e && s < f.end).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut from = f.start;
    for (s, e) in cuts.into_iter().chain(std::iter::once((f.end, f.end))) {
        if s > from {
            pieces.push((from, s.min(f.end)));
        }
        from = from.max(e);
    }
    pieces
        .into_iter()
        .filter_map(|(s, e)| {
            let piece = &text[s..e];
            let lead = piece.len() - piece.trim_start_matches(|c: char| !c.is_alphanumeric()).len();
            let body = piece[lead..].trim_end_matches(|c: char| !c.is_alphanumeric());
            let word = body
                .split(|c: char| !c.is_alphabetic())
                .any(|w| w.chars().count() >= 2 && !super::gate::is_stop_word(w));
            word.then(|| Finding::new(f.entity, s + lead, s + lead + body.len(), f.score, f.source))
        })
        .collect()
}

/// Overlapping findings become one span covering all of them (so no part of
/// a value is left out), typed by the best of them: a deny-list hit first,
/// then the higher score, then the longer span.
pub fn merge(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
    let mut merged: Vec<(Finding, Finding)> = Vec::new(); // (span, best)
    for f in findings {
        if f.start >= f.end {
            continue;
        }
        match merged.last_mut() {
            Some((span, best)) if f.start < span.end => {
                span.end = span.end.max(f.end);
                if rank(&f) > rank(best) {
                    *best = f;
                }
            }
            _ => merged.push((f.clone(), f)),
        }
    }
    merged
        .into_iter()
        .map(|(span, best)| Finding { start: span.start, end: span.end, ..best })
        .collect()
}

fn rank(f: &Finding) -> (bool, u32, usize) {
    (f.source == Source::Dictionary, (f.score * 1000.0) as u32, f.end - f.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_numbers_are_decimal() {
        for (n, want) in [(0, "0"), (7, "7"), (10, "10"), (305, "305"), (u32::MAX, "4294967295")] {
            let mut out = String::from("x");
            push_number(&mut out, n);
            assert_eq!(out, format!("x{want}"));
        }
    }

    fn pipeline() -> Arc<Pipeline> {
        Arc::new(
            Pipeline::new(None, vec![(Entity::Organization, "Acme Rockets".into())], b"k".to_vec())
                .unwrap(),
        )
    }

    #[test]
    fn same_value_same_placeholder_across_texts() {
        let p = pipeline();
        let mut s = p.session(TextConfig::default());
        let (a, _) = s.redact("mail bob@example.com or +44 20 7946 0958").unwrap();
        let (b, _) = s.redact("again bob@example.com, and eve@example.org").unwrap();
        assert_eq!(a, "mail [EMAIL_ADDRESS_1] or [PHONE_NUMBER_1]");
        assert_eq!(b, "again [EMAIL_ADDRESS_1], and [EMAIL_ADDRESS_2]");
        let r = s.restorer();
        assert_eq!(r.restore(&b), "again bob@example.com, and eve@example.org");
    }

    #[test]
    fn operators() {
        let p = pipeline();
        let text = "write to bob@example.com";
        let run = |operator| {
            let mut s = p.session(TextConfig { operator, ..TextConfig::default() });
            s.redact(text).unwrap().0
        };
        assert_eq!(run(Operator::Mask), "write to ***************");
        assert_eq!(run(Operator::Remove), "write to ");
        let hashed = run(Operator::Hash);
        assert_eq!(hashed.len(), "write to ".len() + 16);
        assert_eq!(hashed, run(Operator::Hash));
    }

    #[test]
    fn allow_deny_and_operator_lists() {
        let p = pipeline();
        let config = TextConfig {
            allow: vec!["support@example.com".into()],
            deny: vec!["Project Falcon".into(), "ceo@example.com".into()],
            ..TextConfig::default()
        };
        let mut s = p.session(config);
        let (out, _) = s
            .redact("support@example.com asks ceo@example.com about project falcon at Acme Rockets")
            .unwrap();
        assert_eq!(
            out,
            "support@example.com asks [EMAIL_ADDRESS_1] about [CUSTOM_1] at [ORGANIZATION_1]"
        );
    }

    #[test]
    fn entity_filter_and_threshold() {
        let p = pipeline();
        let only_email: EntitySet = [Entity::EmailAddress].into_iter().collect();
        let mut s = p.session(TextConfig { entities: only_email, ..TextConfig::default() });
        assert_eq!(
            s.redact("bob@example.com 192.168.0.1").unwrap().0,
            "[EMAIL_ADDRESS_1] 192.168.0.1"
        );
        let mut s = p.session(TextConfig { threshold: 0.99, ..TextConfig::default() });
        assert_eq!(s.redact("https://example.com").unwrap().0, "https://example.com");
    }

    #[test]
    fn overlaps_merge_to_the_union() {
        let f = |e, s, t, score| Finding::new(e, s, t, score, Source::Pattern);
        let merged = merge(vec![f(Entity::Url, 0, 30, 0.9), f(Entity::EmailAddress, 10, 35, 1.0)]);
        assert_eq!(merged, vec![f(Entity::EmailAddress, 0, 35, 1.0)]);
    }

    /// A model that tags one fixed phrase wherever it occurs.
    struct Tags(&'static str, Entity);

    impl Redactor for Tags {
        fn find(
            &self,
            text: &str,
            _: EntitySet,
            out: &mut Vec<Finding>,
        ) -> Result<(), RedactError> {
            for (at, m) in text.match_indices(self.0) {
                out.push(Finding::new(self.1, at, at + m.len(), 0.9, Source::Ner));
            }
            Ok(())
        }
    }

    #[test]
    fn a_model_span_over_a_rule_value_keeps_what_lies_outside_it() {
        let ner: Arc<dyn Redactor> = Arc::new(Tags("Wallaby Way; Sydney", Entity::Location));
        let p = Arc::new(Pipeline::new(Some(ner), Vec::new(), b"k".to_vec()).unwrap());
        let mut s = p.session(TextConfig::default());
        // The rule's address and the town the model tagged with it are
        // both redacted, each on its own.
        assert_eq!(
            s.redact("lease for 42 Wallaby Way; Sydney office").unwrap().0,
            "lease for [LOCATION_1]; [LOCATION_2] office"
        );
        // A model span wholly inside a rule value leaves nothing behind.
        let ner: Arc<dyn Redactor> = Arc::new(Tags("bob", Entity::Person));
        let p = Arc::new(Pipeline::new(Some(ner), Vec::new(), b"k".to_vec()).unwrap());
        let mut s = p.session(TextConfig::default());
        assert_eq!(s.redact("mail bob@example.com").unwrap().0, "mail [EMAIL_ADDRESS_1]");
    }
}
