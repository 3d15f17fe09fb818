//! Image redaction cost, per megapixel (criterion reports pixels per
//! second; ms/MP = 1e3 / (Melem/s)). One model session with one thread, so
//! figures are per core. Inputs: scikit-image's sample photo (a face, a
//! little text) at its size and enlarged to 4 MP, and a scanned book page
//! (much text), all from `.cache/test-media` (`scripts/setup.sh`).
//!
//! PDFs, per page (criterion reports pages per second): a 10-page text
//! PDF of about 2,000 characters a page, read only and read + redacted
//! with NER; and a scanned page (the book page as the page's only image)
//! read by OCR and redacted.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image::imageops::FilterType;
use veil::config::{MediaConfig, RedactionConfig};
use veil::media::raster::{Format, encode};
use veil::media::{ImageOptions, Media};
use veil::redact::build_pipeline;
use veil::redact::document::{PdfOptions, read_pdf};
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
    // The same pages run again and again: the NER cache would answer them.
    let redaction =
        RedactionConfig { ner_sessions: 1, ner_cache_entries: 0, ..RedactionConfig::default() };
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

/// A PDF of `pages` pages of Helvetica text lines, or of one page showing
/// `scan` (gray samples, `width` × `height`) as its only image.
fn pdf(pages: usize, scan: Option<(&[u8], u32, u32)>) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    const LINES: [&str; 6] = [
        "Dear Margaret Thornton, thank you for your order of the garden chairs and table.",
        "They will be delivered next week between nine and five to the address you gave.",
        "If the time does not suit you, write to m.thornton@example.org or call us.",
        "Our phone line +1 415 555 0134 is open from Monday to Friday, nine to five.",
        "Payment was taken from the card ending 6467; the invoice number is 2024-0117.",
        "With kind regards, Jonas Weber, delivery team of Garden Supplies Ltd, Leeds.",
    ];
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let mut xobjects = lopdf::Dictionary::new();
    if let Some((samples, width, height)) = scan {
        let image = Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => width, "Height" => height,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            samples.to_vec(),
        );
        xobjects.set("Im1", doc.add_object(image));
    }
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font }, "XObject" => xobjects,
    });
    let mut kids = Vec::new();
    for _ in 0..pages {
        let content = match scan {
            Some(_) => "q 500 0 0 250 50 400 cm /Im1 Do Q".to_owned(),
            None => {
                let lines: Vec<String> = (0..26)
                    .map(|i| format!("({}) Tj T*", LINES[i % LINES.len()].replace(['(', ')'], "")))
                    .collect();
                format!("BT /F1 10 Tf 14 TL 50 750 Td {} ET", lines.join(" "))
            }
        };
        let content = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        })));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap_or_else(|e| panic!("{e}"));
    out
}

fn pdfs(c: &mut Criterion) {
    let (media, pipeline) = setup();
    let options = PdfOptions::default();
    let text = pdf(10, None);
    let page =
        image::load_from_memory(&sample("page")).unwrap_or_else(|e| panic!("{e}")).into_luma8();
    let scanned = pdf(1, Some((page.as_raw(), page.width(), page.height())));
    let redact = |bytes: &[u8], media: Option<&Media>| {
        let doc =
            read_pdf(bytes, None, "pdfs[0]", &options, media).unwrap_or_else(|e| panic!("{e}"));
        let mut session = pipeline.session(TextConfig::default());
        let texts: Vec<&str> = doc.texts().map(|(t, _)| t).collect();
        let findings = session.analyze(&texts).unwrap_or_else(|e| panic!("{e}"));
        doc.render(&mut session, &findings)
    };
    let mut g = c.benchmark_group("pdf");
    g.throughput(Throughput::Elements(10));
    g.bench_function("text pages, read", |b| {
        b.iter(|| {
            read_pdf(&text, None, "pdfs[0]", &options, None).unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.bench_function("text pages, read + redacted", |b| b.iter(|| redact(&text, None)));
    g.throughput(Throughput::Elements(1));
    g.bench_function("scanned page, OCR + redacted", |b| b.iter(|| redact(&scanned, Some(&media))));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = images, pdfs
}
criterion_main!(benches);
