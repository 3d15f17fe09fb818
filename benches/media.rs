//! Image redaction cost, per megapixel (criterion reports pixels per
//! second; ms/MP = 1e3 / (Melem/s)). One model session with one thread, so
//! figures are per core. Inputs: scikit-image's sample photo (a face, a
//! little text) at its size and enlarged to 4 MP, and a scanned book page
//! (much text), all from `.cache/test-media` (`scripts/setup.sh`).

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image::imageops::FilterType;
use veil::config::{MediaConfig, RedactionConfig};
use veil::media::raster::{Format, encode};
use veil::media::{ImageOptions, Media};
use veil::redact::build_pipeline;
use veil::redact::pipeline::{Pipeline, TextConfig};

fn sample(name: &str) -> Vec<u8> {
    let path = format!("{}/.cache/test-media/{name}.png", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run scripts/setup.sh)"))
}

fn enlarged(bytes: &[u8], side: u32) -> Vec<u8> {
    let image = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("{e}")).into_rgba8();
    let big = image::imageops::resize(&image, side, side, FilterType::Triangle);
    encode(&big, Format::Png).unwrap_or_else(|e| panic!("{e}"))
}

fn setup() -> (Media, Arc<Pipeline>) {
    let redaction = RedactionConfig { ner_sessions: 1, ..RedactionConfig::default() };
    let config = MediaConfig { sessions: 1, threads: 1, ..MediaConfig::default() };
    let media =
        Media::load(&config, &redaction.onnxruntime_library).unwrap_or_else(|e| panic!("{e}"));
    let pipeline = build_pipeline(&redaction, b"bench".to_vec()).unwrap_or_else(|e| panic!("{e}"));
    (media, pipeline)
}

fn images(c: &mut Criterion) {
    let (media, pipeline) = setup();
    let astronaut = sample("astronaut");
    let inputs = [
        ("photo 512x512", astronaut.clone()),
        ("photo 2048x2048", enlarged(&astronaut, 2048)),
        ("scanned page", sample("page")),
    ];
    let faces_only = ImageOptions { ocr: false, ..ImageOptions::default() };
    let mut g = c.benchmark_group("media");
    for (name, bytes) in &inputs {
        let pixels =
            image::load_from_memory(bytes).map(|i| u64::from(i.width()) * u64::from(i.height()));
        g.throughput(Throughput::Elements(pixels.unwrap_or_else(|e| panic!("{e}"))));
        for (what, options) in [("faces", &faces_only), ("faces+ocr", &ImageOptions::default())] {
            g.bench_function(format!("{what}, {name}"), |b| {
                b.iter(|| {
                    let session = pipeline.session(TextConfig::default());
                    media.redact_image(bytes, options, &session).unwrap_or_else(|e| panic!("{e}"))
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = images
}
criterion_main!(benches);
