use std::sync::Arc;

use base64::Engine;
use serde_json::json;

use super::*;
use crate::media::pdf::tests::{build, line};
use crate::redact::entity::Entity;
use crate::redact::pipeline::Pipeline;
use crate::redact::request::Defaults;
use crate::redact::{ChatRedactor, RequestRedactor};

fn redactor() -> ChatRedactor {
    let lists = vec![(Entity::Person, "Maria Keller".to_owned())];
    ChatRedactor {
        pipeline: Arc::new(Pipeline::new(None, lists, Vec::new()).unwrap()),
        defaults: Defaults::default(),
        media: None,
    }
}

fn data_url(pdf: &[u8]) -> String {
    crate::media::raster::data_url("application/pdf", pdf)
}

fn file_part(pdf: &[u8]) -> Value {
    json!({"type": "file", "file": {"filename": "Maria Keller.pdf", "file_data": data_url(pdf)}})
}

fn error_param(err: ApiError) -> String {
    err.openai_body()["error"]["param"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_file_part_becomes_redacted_text_numbered_in_request_order() {
    let pdf = build(&[&line("Write to bob@example.org or maria@example.com")], &[], None);
    let mut body = json!({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "From maria@example.com"}, file_part(&pdf)]},
        {"role": "user", "content": "and bob@example.org"}
    ], "piiConfig": {"pdf": {"withholdPageAbove": 1}}});
    let body = body.as_object_mut().unwrap();
    let redaction = redactor().redact(body).unwrap();
    let part = &body["messages"][0]["content"][1];
    assert_eq!(part["type"], "text");
    let text = part["text"].as_str().unwrap();
    assert!(text.starts_with("PDF document \"[PERSON_1].pdf\", 1 page;"), "{text}");
    assert!(
        text.contains("Page 1 of 1 ---\nWrite to [EMAIL_ADDRESS_2] or [EMAIL_ADDRESS_1]"),
        "{text}"
    );
    assert_eq!(body["messages"][1]["content"], "and [EMAIL_ADDRESS_2]");
    let sent = serde_json::to_string(&body).unwrap();
    for value in ["maria@", "bob@", "Maria Keller", "JVBER"] {
        assert!(!sent.contains(value), "{value} was forwarded");
    }
    // Info title "Offer for [PERSON_1]" and author "Jonas Weber" (not listed).
    assert!(text.contains("Title: Offer for [PERSON_1]"));
    assert_eq!(redaction.restorer.restore("[EMAIL_ADDRESS_2]"), "bob@example.org");
}

#[test]
fn a_page_mostly_of_personal_data_is_withheld_whole() {
    let dense = line("maria@example.com Maria Keller");
    let sparse = line("The weather is sunny and warm all week, says maria@example.com");
    let pdf = build(&[&dense, &sparse], &[], None);
    let mut body = json!({"messages": [{"role": "user", "content": [file_part(&pdf)]}],
        "piiConfig": {"pdf": {"withholdPageAbove": 0.5}}});
    let body = body.as_object_mut().unwrap();
    redactor().redact(body).unwrap();
    let text = body["messages"][0]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("--- Page 1 of 2 (withheld: 100 % of it is personal data) ---\n\n"),
        "{text}"
    );
    assert!(text.contains(
        "--- Page 2 of 2 ---\nThe weather is sunny and warm all week, says [EMAIL_ADDRESS_1]"
    ));
}

#[test]
fn pdfs_and_urls_are_added_to_the_last_user_message() {
    let pdf = build(&[&line("Invoice for Maria Keller")], &[], None);
    let html = "<html><body><p>Contact maria@example.com</p><script>x()</script></body></html>";
    let fetched = json!({"url": "https://example.com/team", "content_type": "text/html",
        "data": base64::engine::general_purpose::STANDARD.encode(html)});
    let mut body = json!({
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarize"},
                     {"role": "assistant", "content": "ok"}, {"role": "user", "content": "Who?"}],
        "pdfs": [data_url(&pdf)], "urls": [fetched], "piiConfig": {"pdf": {"withholdPageAbove": 1}}});
    let body = body.as_object_mut().unwrap();
    redactor().redact(body).unwrap();
    let parts = body["messages"][3]["content"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], json!({"type": "text", "text": "Who?"}));
    let pdf_text = parts[1]["text"].as_str().unwrap();
    assert!(pdf_text.ends_with("--- Page 1 of 1 ---\nInvoice for [PERSON_1]"), "{pdf_text}");
    assert_eq!(
        parts[2]["text"],
        "Content of [URL_1], fetched by the privacy proxy, personal data redacted:\nContact [EMAIL_ADDRESS_1]"
    );
    assert_eq!(body["messages"][1]["content"], "Summarize");
    assert!(body.get("pdfs").is_none() && body.get("urls").is_none());

    // No user message: one is added.
    let mut body =
        json!({"messages": [{"role": "system", "content": "x"}], "pdfs": [data_url(&pdf)]});
    let body = body.as_object_mut().unwrap();
    redactor().redact(body).unwrap();
    assert_eq!(body["messages"][1]["role"], "user");
}

#[test]
fn bad_documents_are_refused_naming_the_field() {
    let r = redactor();
    let pdf = build(&[&line("a"), &line("b"), &line("c")], &[], None);
    let cases = [
        (
            json!({"type": "file", "file": {"file_id": "file-abc"}}),
            "messages[0].content[0].file",
            400,
        ),
        (
            json!({"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}),
            "messages[0].content[0].file.file_data",
            400,
        ),
        (
            json!({"type": "file", "file": {"file_data": "%%%"}}),
            "messages[0].content[0].file.file_data",
            400,
        ),
    ];
    for (part, param, status) in cases {
        let mut body = json!({"messages": [{"role": "user", "content": [part]}]});
        let Err(err) = r.redact(body.as_object_mut().unwrap()) else { panic!("accepted") };
        assert_eq!(err.status().as_u16(), status);
        assert_eq!(error_param(err), param);
    }
    // Over maxPages: 413, and a request cannot raise the deployment's cap.
    for config in [json!({"maxPages": 2}), json!({})] {
        let mut body = json!({"messages": [{"role": "user", "content": "x"}], "pdfs": [data_url(&pdf)],
            "piiConfig": {"pdf": config}});
        let mut r = redactor();
        r.defaults.pdf.max_pages = 2;
        let Err(err) = r.redact(body.as_object_mut().unwrap()) else { panic!("accepted") };
        assert_eq!(err.status().as_u16(), 413);
        assert!(err.to_string().contains("3 pages"), "{err}");
    }
    let mut capped = PdfOptions::default();
    capped.apply(&json!({"maxPages": 500}), "piiConfig.pdf", 50).unwrap();
    assert_eq!(capped.max_pages, 50);
    for (bad, key) in [
        (json!({"maxPages": 0}), "maxPages"),
        (json!({"withholdPageAbove": 2}), "withholdPageAbove"),
        (json!({"ocrScannedPages": "yes"}), "ocrScannedPages"),
        (json!({"pages": 1}), "pages"),
    ] {
        let err = PdfOptions::default().apply(&bad, "piiConfig.pdf", 50).unwrap_err();
        assert_eq!(error_param(err), format!("piiConfig.pdf.{key}"));
    }
    let mut body = json!({"messages": [], "pdfs": "x"});
    let Err(err) = r.redact(body.as_object_mut().unwrap()) else { panic!("accepted") };
    assert_eq!(error_param(err), "pdfs");
}

#[test]
fn share_counts_each_value_once() {
    use crate::redact::entity::Source;
    let text = "call +1 415 555 0100 now";
    let f = Finding {
        entity: Entity::PhoneNumber,
        start: 5,
        end: 20,
        score: 1.0,
        source: Source::Pattern,
    };
    assert!((pii_share(text, &[f]) - 1.0 / 3.0).abs() < 1e-6);
    assert_eq!(pii_share("no values here", &[]), 0.0);
    assert_eq!(pii_share("", &[]), 0.0);
}

#[test]
fn a_value_wrapped_onto_the_next_line_is_redacted_whole() {
    let page = "BT /F1 12 Tf 14 TL 72 720 Td (Our office takes calls on +1 415 555) Tj T* \
                (0134 on weekdays, between nine in the morning and five.) Tj ET";
    let pdf = build(&[page], &[], None);
    let mut body = json!({"messages": [{"role": "user", "content": [file_part(&pdf)]}]});
    let body = body.as_object_mut().unwrap();
    redactor().redact(body).unwrap();
    let text = body["messages"][0]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Our office takes calls on [PHONE_NUMBER_1] on weekdays"), "{text}");
    assert!(!text.contains("0134") && !text.contains("415"));
}
