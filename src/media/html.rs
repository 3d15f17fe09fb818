//! Fetched web content as readable text: HTML tags dropped (scripts,
//! styles and other invisible parts with their content), block elements
//! made line breaks, entities decoded, white space collapsed. Bytes are
//! decoded with the charset the server named (UTF-8 otherwise).

/// Decodes `bytes` with the `charset` of a `Content-Type` value.
pub fn decode(bytes: &[u8], content_type: Option<&str>) -> String {
    let label = content_type
        .and_then(|ct| ct.split(';').find_map(|p| p.trim().strip_prefix("charset=")))
        .map(|c| c.trim_matches('"'));
    let encoding = label
        .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(bytes).0.into_owned()
}

/// Elements whose content is not shown.
const HIDDEN: [&str; 8] =
    ["script", "style", "noscript", "template", "svg", "head", "iframe", "object"];
/// Elements that start a new line.
const BLOCKS: [&str; 32] = [
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "table",
    "ul",
    "ol",
    "pre",
    "blockquote",
    "hr",
    "dd",
    "dt",
    "form",
    "nav",
    "aside",
    "main",
    "figure",
    "figcaption",
    "address",
    "title",
    "dl",
];

/// The readable text of an HTML document.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut hidden: Option<String> = None;
    let mut title = false;
    let mut pre = false;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if hidden.is_none() {
                push_text(&mut out, rest, pre);
            }
            break;
        };
        if hidden.is_none() || title {
            push_text(&mut out, &rest[..lt], pre);
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = tag_end(rest) else {
            // A lone `<`: text, not a tag.
            if hidden.is_none() {
                push_text(&mut out, "<", pre);
            }
            rest = &rest[1..];
            continue;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            continue; // `<!DOCTYPE …>`, `<?xml …?>`
        }
        if name == "title" {
            title = !closing;
        }
        if name == "pre" {
            pre = !closing;
        }
        match &hidden {
            Some(h) if closing && *h == name => hidden = None,
            // `</head>` may be left out.
            Some(h) if h == "head" && name == "body" => hidden = None,
            Some(_) => {}
            None if !closing && HIDDEN.contains(&name.as_str()) && !tag.ends_with('/') => {
                hidden = Some(name.clone());
            }
            None => {}
        }
        if BLOCKS.contains(&name.as_str()) {
            newline(&mut out);
            if name == "li" && !closing {
                out.push_str("- ");
            }
        } else if matches!(name.as_str(), "td" | "th") && !closing {
            out.push(' ');
        }
    }
    tidy(&out)
}

/// Where the tag starting at `s[0] == '<'` ends (quotes respected), if it
/// is a tag at all.
fn tag_end(s: &str) -> Option<usize> {
    let next = s[1..].chars().next()?;
    if !(next.is_ascii_alphabetic() || matches!(next, '/' | '!' | '?')) {
        return None;
    }
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Text with entities decoded; line breaks of the source are spaces
/// (HTML's rule) except inside `<pre>`.
fn push_text(out: &mut String, text: &str, pre: bool) {
    let start = out.len();
    push_decoded(out, text);
    if !pre {
        let flat = out[start..].replace(['\n', '\r', '\t'], " ");
        out.truncate(start);
        out.push_str(&flat);
    }
}

fn push_decoded(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        match entity(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

/// `&amp;`, `&#233;`, `&#xE9;` and the common named entities.
fn entity(s: &str) -> Option<(char, usize)> {
    // Bytes, not `&str`: the 12th byte may fall inside a character.
    let end = s.bytes().take(12).position(|b| b == b';')?;
    let body = &s[1..end];
    let c = if let Some(num) = body.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(code).unwrap_or('\u{fffd}')
    } else {
        match body {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            "copy" => '©',
            "reg" => '®',
            "mdash" => '—',
            "ndash" => '–',
            "hellip" => '…',
            "lsquo" => '‘',
            "rsquo" => '’',
            "ldquo" => '“',
            "rdquo" => '”',
            "euro" => '€',
            "pound" => '£',
            "middot" => '·',
            "bull" => '•',
            _ => return None,
        }
    };
    Some((c, end + 1))
}

fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Spaces collapsed in each line, lines trimmed, empty lines dropped.
fn tidy(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_only_with_line_breaks_and_entities() {
        let html = r#"<!DOCTYPE html><html><head><title>Team &amp; contacts</title>
            <style>p { color: red }</style><script>var secret = "x<y";</script></head>
            <body><h1>Contacts</h1><!-- Maria's old number --><p>Write to
            <a href="mailto:a@b.c">Maria&nbsp;Keller</a>, &#x2764; &#233;t&eacute;.</p>
            <ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table>
            <p>1 < 2 and 3 > 2</p></body></html>"#;
        assert_eq!(
            to_text(html),
            "Team & contacts\nContacts\nWrite to Maria Keller, ❤ ét&eacute;.\n- one\n- two\na b\n1 < 2 and 3 > 2"
        );
    }

    #[test]
    fn unterminated_markup_does_not_lose_or_leak() {
        assert_eq!(to_text("<p>kept</p><script>never shown"), "kept");
        assert_eq!(to_text("text <b"), "text <b");
        assert_eq!(to_text("<!-- open comment"), "");
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_text_without_panicking(html in "(<[a-z/!]{0,4}|&[#a-zé]{0,12};?|[^<&]{0,8}|>|-->|é){0,40}") {
            let text = to_text(&html);
            proptest::prop_assert!(!text.contains("\n\n"));
        }
    }

    #[test]
    fn charset_from_the_content_type() {
        assert_eq!(decode(b"caf\xe9", Some("text/html; charset=ISO-8859-1")), "café");
        assert_eq!(decode("café".as_bytes(), Some("text/html")), "café");
        assert_eq!(decode(b"\xef\xbb\xbfhi", None), "hi");
    }
}
