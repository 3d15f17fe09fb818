use lopdf::{Document, Object, Stream, dictionary};

use super::*;

/// A one-line page of text in Helvetica.
pub(crate) fn line(text: &str) -> String {
    format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET")
}

/// A PDF whose pages have the given content streams (font `F1` is
/// Helvetica without a `/Widths` table, as the standard fonts may come)
/// and whose page `i` has the annotations `annots[i]`.
pub(crate) fn build(
    pages: &[&str],
    annots: &[Vec<lopdf::Dictionary>],
    image: Option<Stream>,
) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let mut xobjects = lopdf::Dictionary::new();
    if let Some(image) = image {
        xobjects.set("Im1", doc.add_object(image));
    }
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font },
        "XObject" => xobjects,
    });
    let mut kids = Vec::new();
    for (i, content) in pages.iter().enumerate() {
        let content = doc.add_object(Stream::new(dictionary! {}, content.as_bytes().to_vec()));
        let mut page = dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        };
        if let Some(list) = annots.get(i) {
            let ids: Vec<Object> =
                list.iter().map(|a| Object::Reference(doc.add_object(a.clone()))).collect();
            page.set("Annots", ids);
        }
        kids.push(Object::Reference(doc.add_object(page)));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources,
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let info = doc.add_object(dictionary! {
        "Title" => Object::string_literal("Offer for Maria Keller"),
        "Author" => Object::string_literal("Jonas Weber"),
    });
    doc.trailer.set("Info", info);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

#[test]
fn positioned_words_get_spaces_and_lines_get_newlines() {
    let content = "BT /F1 12 Tf 72 720 Td (Dear) Tj 40 0 Td (Maria) Tj ET \
                   BT /F1 12 Tf 72 700 Td [(Keller) -20 (s) -300 (IBAN)] TJ ET \
                   BT /F1 12 Tf 14 TL 72 680 Td (first) Tj T* (second) Tj ET";
    let pdf = Pdf::open(&build(&[content], &[], None), 10).unwrap();
    let page = pdf.page(0);
    assert_eq!(page.text, "Dear Maria\nKellers IBAN\nfirst\nsecond");
    assert!(!page.scanned && !page.damaged);
}

#[test]
fn runs_that_abut_are_not_split() {
    // "Ma" is 667+556 = 1223/1000 em wide at 10 pt: "ria" starts right there.
    let content = "BT /F1 10 Tf 100 500 Td (Ma) Tj 12.23 0 Td (ria) Tj ET";
    let pdf = Pdf::open(&build(&[content], &[], None), 10).unwrap();
    assert_eq!(pdf.page(0).text, "Maria");
}

#[test]
fn rotated_text_reads_along_its_baseline() {
    // 90° rotated: the words advance up the page, not across it.
    let content = "BT /F1 12 Tf 0 1 -1 0 300 100 Tm (Jonas) Tj 0 1 -1 0 300 150 Tm (Weber) Tj ET";
    let pdf = Pdf::open(&build(&[content], &[], None), 10).unwrap();
    assert_eq!(pdf.page(0).text, "Jonas Weber");
}

#[test]
fn info_annotations_and_form_fields_are_text() {
    let comment = dictionary! {
        "Type" => "Annot", "Subtype" => "Text",
        "Contents" => Object::string_literal("call 555-0100"),
        "T" => Object::string_literal("Ana"),
    };
    let link = dictionary! {
        "Type" => "Annot", "Subtype" => "Link",
        "A" => dictionary! { "S" => "URI", "URI" => Object::string_literal("https://example.com/u/42") },
    };
    let field = dictionary! {
        "Type" => "Annot", "Subtype" => "Widget", "FT" => "Tx",
        "T" => Object::string_literal("email"), "V" => Object::string_literal("ana@example.com"),
    };
    let unchecked = dictionary! {
        "Type" => "Annot", "Subtype" => "Widget", "FT" => "Btn",
        "T" => Object::string_literal("agree"), "V" => "Off",
    };
    let content = "BT /F1 12 Tf 72 720 Td (Form) Tj ET";
    let bytes = build(&[content], &[vec![comment, link, field, unchecked]], None);
    let pdf = Pdf::open(&bytes, 10).unwrap();
    assert_eq!(
        pdf.page(0).text,
        "Form\nComment by Ana: call 555-0100\nLink: https://example.com/u/42\nemail: ana@example.com"
    );
    assert_eq!(pdf.info(), "Title: Offer for Maria Keller\nAuthor: Jonas Weber");
}

#[test]
fn a_page_without_text_but_with_an_image_is_scanned() {
    // 4×2 gray image: a black left half, a white right half.
    let samples = vec![0, 0, 255, 255, 0, 0, 255, 255];
    let image = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 4, "Height" => 2,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        },
        samples,
    );
    let content = "q 400 0 0 200 100 100 cm /Im1 Do Q";
    let pdf = Pdf::open(&build(&[content], &[], Some(image)), 10).unwrap();
    let page = pdf.page(0);
    assert!(page.scanned);
    assert_eq!(page.images.len(), 1);
    let pixels = pdf.image(page.images[0], 1000).unwrap().unwrap();
    assert_eq!(pixels.dimensions(), (4, 2));
    assert_eq!(pixels.get_pixel(0, 1).0, [0, 0, 0, 255]);
    assert_eq!(pixels.get_pixel(3, 0).0, [255, 255, 255, 255]);
    assert!(matches!(pdf.image(page.images[0], 7), Err(MediaError::TooLarge(_))));
}

#[test]
fn bad_files_are_refused_with_a_reason() {
    let good = build(&["BT /F1 12 Tf 72 720 Td (x) Tj ET"; 3], &[], None);
    let reason = |bytes: &[u8], max| match Pdf::open(bytes, max) {
        Err(MediaError::Invalid(m)) | Err(MediaError::TooLarge(m)) => m,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened"),
    };
    assert!(reason(&good, 2).contains("3 pages"));
    assert!(reason(&good[..good.len() / 2], 10).contains("truncated"));
    assert!(reason(b"hello", 10).contains("not a PDF"));
    let mut garbage = b"%PDF-1.7\n".to_vec();
    garbage.extend(std::iter::repeat_n(b'z', 4000));
    garbage.extend(b"\n%%EOF\n");
    assert!(reason(&garbage, 10).contains("damaged"));
}

#[test]
fn junk_in_the_content_keeps_the_text_before_it() {
    let content = "BT /F1 12 Tf 72 720 Td (kept) Tj ET BT ) ] >> (x";
    let pdf = Pdf::open(&build(&[content], &[], None), 10).unwrap();
    let page = pdf.page(0);
    assert!(page.text.starts_with("kept"));
    assert!(!page.text.contains(">>"), "{}", page.text);
}

#[test]
fn a_page_that_inflates_beyond_the_limit_is_marked_not_read() {
    // 40 MiB of spaces compress to a few KiB: a decompression bomb.
    let mut doc = Document::load_mem(&build(&[&line("kept")], &[], None)).unwrap();
    let page = *doc.get_pages().values().next().unwrap();
    let mut bomb = Stream::new(dictionary! {}, vec![b' '; 40 << 20]);
    bomb.compress().unwrap();
    assert!(bomb.content.len() < 1 << 20);
    let bomb = doc.add_object(bomb);
    doc.get_dictionary_mut(page).unwrap().set("Contents", bomb);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    let pdf = Pdf::open(&bytes, 10).unwrap();
    let page = pdf.page(0);
    assert!(page.damaged && page.text.is_empty());
}

/// Random byte changes (20,000 rounds found none when this was written;
/// CI runs fewer): every damaged file opens or is refused, never panics.
#[test]
fn damaged_files_never_panic() {
    use rand::{Rng, SeedableRng};
    let annots = vec![
        dictionary! {"Type" => "Annot", "Subtype" => "Text", "Contents" => Object::string_literal("c")},
    ];
    let good = build(&[&line("Dear Maria Keller"), &line("second page")], &[annots], None);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for i in 0..1500 {
        let mut bytes = good.clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        let r = std::panic::catch_unwind(|| {
            if let Ok(pdf) = Pdf::open(&bytes, 10) {
                for p in 0..pdf.page_count() {
                    let _ = pdf.page(p);
                }
                let _ = pdf.info();
            }
        });
        assert!(r.is_ok(), "panic at iteration {i}");
    }
}
