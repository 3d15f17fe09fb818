//! Where the NER stage finds a name and where the name ends, with the
//! shipped model.
//!
//! It tokenizes only the text around the words it reads. A name must then be
//! found at the same place, with the same type, wherever it sits in a long
//! text: at the start, deep inside, between multi-byte characters and at the
//! very end. A name ends at its last word, without the greeting or title
//! before it or the full stop after it; and a name typed in lower case after
//! "my name is" is found in text that otherwise uses capitals.
#![allow(clippy::expect_used)]

use veil::config::RedactionConfig;
use veil::redact::build_pipeline;
use veil::redact::entity::Entity;
use veil::redact::pipeline::TextConfig;

const SENTENCE: &str = "Please forward the contract to Maria Keller in Lisbon today.";

fn names(text: &str) -> Vec<(Entity, &str, usize)> {
    let pipeline = build_pipeline(&RedactionConfig::default(), b"test".to_vec())
        .expect("pipeline (run scripts/setup.sh)");
    let session = pipeline.session(TextConfig::default());
    let found = session.analyze(&[text]).expect("analyze").pop().unwrap_or_default();
    found
        .into_iter()
        .filter(|f| matches!(f.entity, Entity::Person | Entity::Location | Entity::Organization))
        .map(|f| (f.entity, &text[f.start..f.end], f.start))
        .collect()
}

#[test]
fn names_are_found_at_their_place_anywhere_in_a_long_text() {
    let alone = names(SENTENCE);
    assert!(alone.iter().any(|&(e, s, _)| e == Entity::Person && s.starts_with("Maria")));
    assert!(alone.contains(&(Entity::Location, "Lisbon", 47)), "{alone:?}");

    let log = "2025-03-02 10:11:12 INFO GET /api/v1/items?page=3 200 12ms — ok ✓\n";
    let text = format!("{SENTENCE}\n{}{SENTENCE}\n{}{SENTENCE}", log.repeat(300), log.repeat(5));
    let found = names(&text);
    assert_eq!(found.len(), 3 * alone.len(), "{found:?}");
    let starts: Vec<usize> = text.match_indices(SENTENCE).map(|(i, _)| i).collect();
    for (k, &start) in starts.iter().enumerate() {
        for (j, &(entity, value, offset)) in alone.iter().enumerate() {
            assert_eq!(found[k * alone.len() + j], (entity, value, start + offset));
        }
    }
}

fn values(text: &str) -> Vec<&str> {
    names(text).into_iter().map(|(_, value, _)| value).collect()
}

#[test]
fn a_name_is_found_without_the_words_around_it() {
    let found = values("Hey Siobhan! The invoice went to Dr. Kwame Mensah in Accra.");
    assert!(found.contains(&"Siobhan") && found.contains(&"Kwame Mensah"), "{found:?}");
    assert!(found.contains(&"Accra"), "the sentence's full stop is not part of it: {found:?}");
    let found = values("Ciao Giulia, domani vado a Milano per incontrare quelli di Luxottica.");
    assert!(found.contains(&"Milano") && found.contains(&"Luxottica"), "{found:?}");
    assert!(found.iter().all(|v| !v.contains("incontrare")), "{found:?}");
}

#[test]
fn a_name_in_lower_case_is_found_after_my_name_is() {
    let text = "Hi, my name is kevin o'brien and I need a refund. I'm sure it was paid.";
    let found = names(text);
    assert!(
        found.iter().any(|&(e, v, _)| e == Entity::Person && v == "kevin o'brien"),
        "{found:?}"
    );
    assert!(found.iter().all(|&(_, v, _)| v != "sure"), "{found:?}");
}

#[test]
fn everyday_words_with_a_capital_are_no_name() {
    // The model takes these for people; they are a form's labels and
    // German nouns (`models/ner/common-words.txt`).
    for text in [
        "Fecha de entrega: el lunes que viene.",
        "Der Vertrag wurde gestern unterschrieben.",
        "Adjunto la factura del mes pasado.",
        "Oggetto: richiesta di rimborso",
        "Hallo, Meine Nummer ist +33 6 04 67 82 35.",
    ] {
        let found = names(text);
        assert!(found.is_empty(), "{text:?} gave {found:?}");
    }
    // Names that are also words are still names.
    let found = values("Der Vertrag ging an Rose Fischer und Mark Wolf in Nice.");
    for name in ["Rose", "Fischer", "Mark", "Wolf", "Nice"] {
        assert!(found.iter().any(|v| v.contains(name)), "{name} not in {found:?}");
    }
    assert!(!found.iter().any(|v| v.contains("Vertrag")), "{found:?}");
}

#[test]
fn names_around_a_name_take_its_side() {
    // After a person and "aus", a town the model misses or takes for a
    // second person is where the person comes from.
    for (text, place) in [
        ("Hallo, ich bin Janus Wirth aus Hettstedt. Meine Nummer folgt.", "Hettstedt"),
        ("Maria aus Dresden hat angerufen.", "Dresden"),
    ] {
        let found = names(text);
        assert!(found.iter().any(|&(e, v, _)| e == Entity::Location && v == place), "{found:?}");
        assert!(!found.iter().any(|&(e, v, _)| e == Entity::Person && v == place), "{found:?}");
    }
    assert!(names("Grüße von Peter aus Versehen gelöscht.").iter().all(|f| f.1 != "Versehen"));
    // A degree after a name is not part of it, nor a company.
    let found = names("Regards, Maria Lopez PhD");
    assert_eq!(found, [(Entity::Person, "Maria Lopez", 9)]);
    // A Spanish imperative opening a sentence is no place.
    let found = values("Envíelo a la oficina de Valencia, por favor.");
    assert!(found.iter().all(|v| !v.contains("Envíelo")), "{found:?}");
}
