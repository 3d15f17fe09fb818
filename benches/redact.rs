//! Redaction throughput: the pattern + dictionary stages in MB/s over mixed
//! text (prose, logs, JSON, with PII sprinkled in), and the full pipeline
//! with NER per 1,000 characters of that mixed text and of a business
//! e-mail full of names. One thread, so figures are per core.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use veil::config::RedactionConfig;
use veil::redact::build_pipeline;
use veil::redact::entity::Entity;
use veil::redact::pipeline::{Pipeline, TextConfig};

fn corpus(bytes: usize) -> String {
    let lines = [
        "Hi team, the deploy of version 2.14.3 finished at 2025-03-02T10:11:12Z without errors.",
        "Please contact jane.doe@example.com or call +44 20 7946 0958 about invoice 88231.",
        "{\"user\": \"u_1842\", \"ip\": \"203.0.113.77\", \"plan\": \"pro\", \"items\": [1, 2, 3]}",
        "2025-03-02 10:11:12 INFO GET /api/v1/items?page=3 200 12ms uuid=9b2e7f9c-1c11-4a4e-8f0e-7d5d3a0c9f11",
        "The card 4111 1111 1111 1111 was charged; refund to DE89 3704 0044 0532 0130 00 if needed.",
        "Summarize the quarterly report and list three risks for the board meeting next Tuesday.",
        "export OPENAI_API_KEY=sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34 # rotate after the demo",
        "Die Lieferung nach München wurde verschoben; bitte bestätigen Sie den neuen Termin.",
    ];
    let mut out = String::new();
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(lines[i % lines.len()]);
        out.push('\n');
        i += 1;
    }
    out
}

fn pipeline(ner: bool) -> Arc<Pipeline> {
    // The same text runs again and again: the NER cache would answer it.
    let config = RedactionConfig { ner, ner_cache_entries: 0, ..RedactionConfig::default() };
    build_pipeline(&config, b"bench".to_vec()).unwrap_or_else(|e| panic!("{e}"))
}

fn patterns(c: &mut Criterion) {
    let p = pipeline(false);
    let text = corpus(256 * 1024);
    let no_ner: Vec<Entity> = Entity::ALL
        .into_iter()
        .filter(|e| !matches!(e, Entity::Person | Entity::Location | Entity::Organization))
        .collect();
    let config = TextConfig {
        entities: no_ner.into_iter().collect(),
        deny: vec!["Project Falcon".into(), "ACME-7".into()],
        ..TextConfig::default()
    };
    // The rules that also find names, places and companies (street
    // addresses, record fields, legal forms) run too when those types are
    // wanted, as they are by default.
    let every_rule = TextConfig { entities: Entity::ALL.into_iter().collect(), ..config.clone() };
    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(text.len() as u64));
    for (name, config) in [("", &config), (", every rule", &every_rule)] {
        g.bench_function(format!("patterns+dictionary 256 KiB{name}"), |b| {
            b.iter(|| {
                let mut s = p.session(config.clone());
                s.redact(&text).unwrap_or_else(|e| panic!("{e}"))
            })
        });
    }
    g.finish();
}

/// A business e-mail: prose with names, places and companies in most
/// sentences, the NER stage's most expensive kind of text.
const PROSE: &str = "Dear Mr. Okafor,\n\nThank you for meeting with Helena Brandt and me in \
Rotterdam last week. As discussed, Northwind Logistics will take over the warehouse \
contract from Baltic Freight on the first of May. Our finance lead, Tomás Ferreira, \
will send the revised invoice to your office in Antwerp; if anything is unclear, \
please call him directly.\n\nThe pilot with Kestrel Analytics went well. Their team \
in Lyon asked whether Ingrid Solberg could present the results at the partner day \
in Copenhagen. I said we would confirm once Priya Raman is back from Singapore.\n\n\
Two open points remain: the insurance certificate from Meridian Assurance, and the \
customs broker in Hamburg, who still has the old address on file. Jonas Lindqvist \
has offered to sort out both before the end of the month.\n\nBest regards,\n\
Claire Dubois\nHead of Operations, Northwind Logistics\n";

fn with_ner(c: &mut Criterion) {
    let p = pipeline(true);
    let mixed: String = corpus(4000).chars().take(1000).collect();
    let prose: String = PROSE.repeat(2).chars().take(1000).collect();
    let mut g = c.benchmark_group("redact");
    for (name, text) in [("mixed", &mixed), ("prose", &prose)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("full pipeline with NER, 1000 chars of {name}"), |b| {
            b.iter(|| {
                let mut s = p.session(TextConfig::default());
                s.redact(text).unwrap_or_else(|e| panic!("{e}"))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = patterns, with_ner
}
criterion_main!(benches);
