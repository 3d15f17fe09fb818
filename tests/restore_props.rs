//! Property: for any text and any split of the model's answer into stream
//! chunks, restoring the redacted text gives the original back, and no PII
//! value survives redaction.

use std::sync::Arc;

use proptest::prelude::*;
use veil::config::RedactionConfig;
use veil::redact::build_pipeline;
use veil::redact::pipeline::{Pipeline, TextConfig};
use veil::redact::restore::{Field, StreamRestorer, StreamRewriter};

const VALUES: &[&str] = &[
    "jane.doe@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "192.168.10.77",
    "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34",
    "https://intranet.example.com/u/42",
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "123-45-6788",
];
const WORDS: &[&str] =
    &["hello", "[", "]", "PERSON", "the", "<", "{", "_", "1", "Ärger", "日本", "\n", "**", "mail:"];

fn pipeline() -> Arc<Pipeline> {
    static PIPELINE: std::sync::LazyLock<Arc<Pipeline>> = std::sync::LazyLock::new(|| {
        build_pipeline(&RedactionConfig { ner: false, ..RedactionConfig::default() }, b"k".to_vec())
            .unwrap_or_else(|e| panic!("{e}"))
    });
    PIPELINE.clone()
}

fn text_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(VALUES).prop_map(str::to_owned),
            prop::sample::select(WORDS).prop_map(str::to_owned)
        ],
        1..14,
    )
    .prop_map(|parts| parts.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn restore_of_redact_is_identity_for_any_chunking(text in text_strategy(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let pipeline = pipeline();
        let mut session = pipeline.session(TextConfig::default());
        let (redacted, _) = session.redact(&text).unwrap();
        for v in VALUES {
            prop_assert!(!redacted.contains(v), "{v} survived in {redacted:?}");
        }
        let restorer = Arc::new(session.restorer());
        let whole = restorer.restore(&redacted).into_owned();
        prop_assert_eq!(whole.as_str(), text.as_str());

        // Cut the answer at arbitrary char boundaries.
        let boundaries: Vec<usize> = redacted.char_indices().map(|(i, _)| i).chain([redacted.len()]).collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| boundaries[c.index(boundaries.len())]).collect();
        points.sort_unstable();
        points.dedup();
        let mut stream = StreamRestorer::new(restorer);
        let mut out = String::new();
        let mut at = 0;
        for p in points.into_iter().chain([redacted.len()]) {
            out += &stream.push(0, Field::Content, &redacted[at..p]).unwrap();
            at = p;
        }
        for (_, rest) in stream.flush_choice(0).unwrap() {
            out += &rest;
        }
        prop_assert_eq!(out, text);
    }
}
