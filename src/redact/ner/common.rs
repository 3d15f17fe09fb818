//! Common words that are not names (`models/ner/common-words.txt`, made by
//! `models/ner/common_words.py`): a span the model tags as a person or a
//! place made only of them ("Fecha", "Der Vertrag", "Geburtsdatum") is a
//! capitalised word of everyday text, not a name.

use std::path::Path;

use crate::redact::gate::is_stop_word;

/// The words, lower case, sorted; empty when the model folder has no list.
#[derive(Default)]
pub(super) struct CommonWords {
    words: Vec<Box<str>>,
}

impl CommonWords {
    /// Reads one word per line from `path`; a missing file gives an empty
    /// list (a model folder made before the list existed still loads).
    pub(super) fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(Self::from_words(text.lines()))
    }

    fn from_words<'a>(words: impl Iterator<Item = &'a str>) -> Self {
        let mut words: Vec<Box<str>> = words
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| w.to_lowercase().into())
            .collect();
        words.sort_unstable();
        words.dedup();
        Self { words }
    }

    pub(super) fn len(&self) -> usize {
        self.words.len()
    }

    fn contains(&self, lower: &str) -> bool {
        self.words.binary_search_by(|w| (**w).cmp(lower)).is_ok()
    }

    /// Whether every word of `span` is a common word or a stop word, and
    /// one of them a common word.
    pub(super) fn only_common(&self, span: &str) -> bool {
        let mut any = false;
        for word in span.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()) {
            let lower = word.to_lowercase();
            if self.contains(&lower) {
                any = true;
            } else if !is_stop_word(&lower) {
                return false;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_common_words_only() {
        let common =
            CommonWords::from_words(["fecha", "vertrag", "Lieferung", "entrega"].into_iter());
        assert!(common.only_common("Fecha"));
        assert!(common.only_common("Der Vertrag"));
        assert!(common.only_common("LIEFERUNG"));
        assert!(!common.only_common("Fecha Ortega"));
        assert!(!common.only_common("Der"));
        assert!(!CommonWords::default().only_common("Fecha"));
    }

    #[test]
    fn a_missing_list_is_empty() {
        let common = CommonWords::load(Path::new("/nonexistent/common-words.txt")).unwrap();
        assert_eq!(common.len(), 0);
    }

    #[test]
    fn the_shipped_list_keeps_names_out() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ner/common-words.txt");
        let common = CommonWords::load(&path).unwrap();
        assert!(common.len() > 100_000, "{}", common.len());
        for word in ["fecha", "vertrag", "geburtsdatum", "betreff", "veuillez", "oggetto"] {
            assert!(common.contains(word), "{word}");
        }
        // First names, surnames and places that are also words stay out.
        for name in ["rose", "mark", "wolf", "fischer", "paris", "nice", "jordan", "müller"] {
            assert!(!common.contains(name), "{name}");
        }
    }
}
