//! Word lists: the operator's (typed, from config) and a request's
//! `allow`/`deny` values, matched case-insensitively on word boundaries (so
//! "Ann" does not match inside "Annual"). A few values (a request's lists)
//! are each searched with `memchr`'s SIMD substring search in a lower-cased
//! copy of the text; more (an operator's lists) in one Aho-Corasick pass.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::entity::{Entity, Finding, Source};

/// Compiled values, each with the entity it stands for.
pub struct Dictionary {
    matcher: Matcher,
    entities: Vec<Entity>,
}

/// Up to this many values are searched one by one.
const FEW: usize = 8;

enum Matcher {
    /// ASCII-lower-cased values, searched in the ASCII-lower-cased text.
    Few(Vec<memchr::memmem::Finder<'static>>),
    Many(AhoCorasick),
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
            // ASCII case is folded in the search; add the common Unicode
            // casings.
            let mut forms: Vec<String> =
                [value.to_owned(), value.to_lowercase(), value.to_uppercase()]
                    .iter()
                    .map(|f| f.to_ascii_lowercase())
                    .collect();
            forms.sort();
            forms.dedup();
            for form in forms {
                patterns.push(form);
                entities.push(entity);
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let matcher = if patterns.len() <= FEW {
            Matcher::Few(
                patterns
                    .iter()
                    .map(|p| memchr::memmem::Finder::new(p.as_bytes()).into_owned())
                    .collect(),
            )
        } else {
            Matcher::Many(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .ok()?,
            )
        };
        Some(Self { matcher, entities })
    }

    /// Every whole-word occurrence as a finding with score 1.
    pub fn find(&self, text: &str, out: &mut Vec<Finding>) {
        for (value, start, end) in self.occurrences(text) {
            let entity = self.entities[value];
            out.push(Finding::new(entity, start, end, 1.0, Source::Dictionary));
        }
    }

    /// Spans of every occurrence (for `allow`).
    pub fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        self.occurrences(text).into_iter().map(|(_, start, end)| (start, end)).collect()
    }

    /// Whole-word occurrences, leftmost first, the longest where several
    /// start at one place, none overlapping: (value, start, end).
    fn occurrences(&self, text: &str) -> Vec<(usize, usize, usize)> {
        let all: Vec<(usize, usize, usize)> = match &self.matcher {
            Matcher::Many(ac) => {
                ac.find_iter(text).map(|m| (m.pattern().as_usize(), m.start(), m.end())).collect()
            }
            Matcher::Few(finders) => {
                let lower = text.to_ascii_lowercase();
                let mut found: Vec<(usize, usize, usize)> = Vec::new();
                for (value, finder) in finders.iter().enumerate() {
                    let n = finder.needle().len();
                    found.extend(finder.find_iter(lower.as_bytes()).map(|i| (value, i, i + n)));
                }
                found.sort_by_key(|&(_, start, end)| (start, std::cmp::Reverse(end)));
                let mut kept: Vec<(usize, usize, usize)> = Vec::with_capacity(found.len());
                for m in found {
                    if kept.last().is_none_or(|last| m.1 >= last.2) {
                        kept.push(m);
                    }
                }
                kept
            }
        };
        all.into_iter().filter(|&(_, start, end)| is_word_edge(text, start, end)).collect()
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
    fn few_and_many_values_find_the_same() {
        let values = ["Ann", "Ann Lee", "Project Falcon", "Öztürk", "ACME-7"];
        let mut many: Vec<(Entity, String)> =
            values.iter().map(|v| (Entity::Person, (*v).to_owned())).collect();
        many.extend((0..10).map(|i| (Entity::Custom, format!("filler{i}"))));
        let few = Dictionary::new(values.iter().map(|v| (Entity::Person, (*v).to_owned())));
        let (few, many) = (few.unwrap(), Dictionary::new(many).unwrap());
        assert!(matches!(few.matcher, Matcher::Few(_)) && matches!(many.matcher, Matcher::Many(_)));
        let text = "ann lee met ANN and ÖZTÜRK at acme-7 (Project  Falcon, project falcon), Annual";
        assert_eq!(few.spans(text), many.spans(text));
        let got: Vec<&str> = few.spans(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(got, ["ann lee", "ANN", "ÖZTÜRK", "acme-7", "project falcon"]);
    }

    #[test]
    fn empty_lists_compile_to_nothing() {
        assert!(Dictionary::new([(Entity::Person, "  ".to_owned())]).is_none());
    }
}
