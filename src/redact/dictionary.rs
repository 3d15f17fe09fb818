//! Word lists: the operator's (typed, from config) and a request's
//! `allow`/`deny` values, matched in one Aho-Corasick pass, case-insensitive,
//! on word boundaries (so "Ann" does not match inside "Annual").

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::entity::{Entity, Finding, Source};

/// Compiled values, each with the entity it stands for.
pub struct Dictionary {
    matcher: AhoCorasick,
    entities: Vec<Entity>,
}

impl Dictionary {
    /// `None` when there is nothing to match.
    pub fn new(values: impl IntoIterator<Item = (Entity, String)>) -> Option<Self> {
        let mut patterns = Vec::new();
        let mut entities = Vec::new();
        for (entity, value) in values {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            // ASCII case folding is built in; add the common Unicode casings.
            let mut forms = vec![value.to_owned(), value.to_lowercase(), value.to_uppercase()];
            forms.dedup();
            for form in forms {
                patterns.push(form);
                entities.push(entity);
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let matcher = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        Some(Self { matcher, entities })
    }

    /// Every whole-word occurrence as a finding with score 1.
    pub fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for m in self.matcher.find_iter(text) {
            if is_word_edge(text, m.start(), m.end()) {
                let entity = self.entities[m.pattern().as_usize()];
                out.push(Finding::new(entity, m.start(), m.end(), 1.0, Source::Dictionary));
            }
        }
    }

    /// Spans of every occurrence (for `allow`).
    pub fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        self.matcher
            .find_iter(text)
            .filter(|m| is_word_edge(text, m.start(), m.end()))
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

fn is_word_edge(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let glued = |outer: Option<char>, inner: Option<char>| {
        outer.is_some_and(char::is_alphanumeric) && inner.is_some_and(char::is_alphanumeric)
    };
    !glued(before, first) && !glued(after, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_any_case() {
        let d = Dictionary::new([
            (Entity::Person, "Ann".to_owned()),
            (Entity::Organization, "Project Falcon".into()),
        ])
        .unwrap();
        let mut out = Vec::new();
        d.find("ANN said: project falcon ships. Annual report.", &mut out);
        let got: Vec<_> = out.iter().map(|f| (f.entity, f.start, f.end)).collect();
        assert_eq!(got, vec![(Entity::Person, 0, 3), (Entity::Organization, 10, 24)]);
    }

    #[test]
    fn unicode_case_forms() {
        let d = Dictionary::new([(Entity::Person, "Öztürk".to_owned())]).unwrap();
        let mut out = Vec::new();
        d.find("ÖZTÜRK and öztürk", &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn empty_lists_compile_to_nothing() {
        assert!(Dictionary::new([(Entity::Person, "  ".to_owned())]).is_none());
    }
}
