//! The text of a page's content stream, in drawing order. PDFs place
//! words and lines by coordinates rather than with spaces and newlines,
//! so glyph positions are followed (text and graphics matrices, font
//! widths, `TJ` adjustments) and the separators put back: a new line
//! where the baseline moves, a space where a gap opens along it.

use std::collections::{HashMap, HashSet};

use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

/// Largest decompressed content stream read per page or form.
const MAX_CONTENT: usize = 32 << 20;
/// Form XObjects nested deeper than this are not entered.
const MAX_DEPTH: usize = 8;
/// A gap along the baseline wider than this share of the font size is a
/// space (a word space is about a quarter of an em; kerning far less).
const SPACE_GAP: f32 = 0.2;
/// A baseline shift across the text of more than this share of the font
/// size is a new line.
const LINE_SHIFT: f32 = 0.5;

type Matrix = [f32; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `a` then `b` (PDF's row-vector convention: `a × b`).
fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

fn translate(tx: f32, ty: f32) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, tx, ty]
}

fn num(o: &Object) -> Option<f32> {
    match o {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) => Some(*r),
        _ => None,
    }
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Object> {
    doc.dereference(o).ok().map(|(_, o)| o)
}

/// Glyph widths of a font, in thousandths of the font size.
enum Widths {
    Simple { first: u32, widths: Vec<f32>, missing: f32 },
    Cid { ranges: Vec<(u32, u32, f32)>, default: f32 },
}

impl Widths {
    fn of(&self, code: u32) -> f32 {
        match self {
            Widths::Simple { first, widths, missing } => code
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .filter(|w| *w > 0.0)
                .unwrap_or(*missing),
            Widths::Cid { ranges, default } => {
                ranges.iter().find(|(a, b, _)| (*a..=*b).contains(&code)).map_or(*default, |r| r.2)
            }
        }
    }
}

struct Font<'a> {
    encoding: Option<Encoding<'a>>,
    widths: Widths,
    /// Type0 fonts take two bytes per code (Identity-H and the common CMaps).
    two_byte: bool,
}

impl<'a> Font<'a> {
    fn load(doc: &'a Document, dict: &'a Dictionary) -> Self {
        let encoding = dict.get_font_encoding_with_limit(doc, MAX_CONTENT).ok();
        let subtype = dict.get(b"Subtype").and_then(Object::as_name).unwrap_or(b"");
        if subtype == b"Type0" {
            let descendant = dict
                .get(b"DescendantFonts")
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .and_then(|a| a.first())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_dict().ok());
            let default =
                descendant.and_then(|d| d.get(b"DW").ok()).and_then(num).unwrap_or(1000.0);
            let ranges = descendant
                .and_then(|d| d.get(b"W").ok())
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_array().ok())
                .map(|w| cid_widths(doc, w))
                .unwrap_or_default();
            return Font { encoding, widths: Widths::Cid { ranges, default }, two_byte: true };
        }
        let first = dict.get(b"FirstChar").ok().and_then(num).unwrap_or(0.0) as u32;
        let widths: Vec<f32> = dict
            .get(b"Widths")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_array().ok())
            .map(|a| a.iter().map(|w| deref(doc, w).and_then(num).unwrap_or(0.0)).collect())
            .unwrap_or_default();
        let base = dict.get(b"BaseFont").and_then(Object::as_name).unwrap_or(b"");
        let widths = if widths.is_empty() {
            standard_widths(base)
        } else {
            let missing = dict
                .get(b"FontDescriptor")
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_dict().ok())
                .and_then(|d| d.get(b"MissingWidth").ok())
                .and_then(num)
                .filter(|w| *w > 0.0)
                .unwrap_or(500.0);
            Widths::Simple { first, widths, missing }
        };
        Font { encoding, widths, two_byte: false }
    }

    fn codes<'b>(&self, bytes: &'b [u8]) -> impl Iterator<Item = u32> + 'b {
        let step = if self.two_byte { 2 } else { 1 };
        bytes.chunks(step).map(|c| c.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)))
    }
}

/// `/W` of a CID font: `c [w1 w2 …]` or `c_first c_last w`.
fn cid_widths(doc: &Document, w: &[Object]) -> Vec<(u32, u32, f32)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < w.len() {
        let Some(first) = num(&w[i]) else { break };
        let first = first as u32;
        match deref(doc, &w[i + 1]) {
            Some(Object::Array(list)) => {
                for (k, width) in list.iter().enumerate() {
                    let code = first + k as u32;
                    out.push((code, code, num(width).unwrap_or(0.0)));
                }
                i += 2;
            }
            Some(last) => {
                let (Some(last), Some(width)) = (num(last), w.get(i + 2).and_then(num)) else {
                    break;
                };
                out.push((first, last as u32, width));
                i += 3;
            }
            None => break,
        }
    }
    out
}

/// Widths of the standard fonts, which may come without a `/Widths`
/// table: Courier is fixed; Helvetica's printable ASCII is listed; others
/// get an average width.
fn standard_widths(base: &[u8]) -> Widths {
    const HELVETICA: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556,
        556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722,
        722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722,
        667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556,
        556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500,
        500, 334, 260, 334, 584,
    ];
    let name = String::from_utf8_lossy(base);
    if name.contains("Courier") {
        Widths::Simple { first: 0, widths: Vec::new(), missing: 600.0 }
    } else if name.contains("Helvetica") || name.contains("Arial") {
        Widths::Simple {
            first: 32,
            widths: HELVETICA.iter().map(|w| f32::from(*w)).collect(),
            missing: 556.0,
        }
    } else {
        Widths::Simple { first: 0, widths: Vec::new(), missing: 500.0 }
    }
}

/// What a page's content drew.
#[derive(Debug, Default)]
pub struct Drawn {
    pub text: String,
    /// Image XObjects drawn, in order, each once.
    pub images: Vec<ObjectId>,
    /// Part of the content could not be parsed; the text is what came before.
    pub damaged: bool,
}

#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<usize>,
    size: f32,
    leading: f32,
    char_spacing: f32,
    word_spacing: f32,
    scale: f32,
    rise: f32,
}

impl Default for State {
    fn default() -> Self {
        Self {
            ctm: IDENTITY,
            font: None,
            size: 0.0,
            leading: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            rise: 0.0,
        }
    }
}

/// Where the last glyph run ended, in user space.
struct End {
    at: (f32, f32),
    /// Unit vector along the baseline.
    dir: (f32, f32),
    /// Font size in user space.
    em: f32,
}

struct Extractor<'a> {
    doc: &'a Document,
    fonts: Vec<Font<'a>>,
    font_ids: HashMap<*const Dictionary, usize>,
    state: State,
    stack: Vec<State>,
    tm: Matrix,
    tlm: Matrix,
    last: Option<End>,
    out: Drawn,
    seen_images: HashSet<ObjectId>,
    forms: Vec<ObjectId>,
}

/// The text and images of one page.
pub fn page(doc: &Document, page: ObjectId) -> Drawn {
    let mut x = Extractor {
        doc,
        fonts: Vec::new(),
        font_ids: HashMap::new(),
        state: State::default(),
        stack: Vec::new(),
        tm: IDENTITY,
        tlm: IDENTITY,
        last: None,
        out: Drawn::default(),
        seen_images: HashSet::new(),
        forms: Vec::new(),
    };
    let resources = page_resources(doc, page);
    match doc.get_page_content_with_limit(page, MAX_CONTENT) {
        Ok(content) => x.run(&content, resources),
        Err(_) => x.out.damaged = true,
    }
    let mut out = x.out;
    out.text = out.text.trim().to_owned();
    out
}

/// The page's resources: its own or the nearest ancestor's.
fn page_resources(doc: &Document, page: ObjectId) -> Option<&Dictionary> {
    let (direct, ids) = doc.get_page_resources(page).ok()?;
    direct.or_else(|| ids.iter().find_map(|id| doc.get_dictionary(*id).ok()))
}

fn resource<'a>(
    doc: &'a Document,
    resources: Option<&'a Dictionary>,
    kind: &[u8],
    name: &[u8],
) -> Option<(Option<ObjectId>, &'a Object)> {
    let group = resources?.get(kind).ok()?;
    let group = deref(doc, group)?.as_dict().ok()?;
    let entry = group.get(name).ok()?;
    let (id, object) = doc.dereference(entry).ok()?;
    Some((id, object))
}

impl<'a> Extractor<'a> {
    fn run(&mut self, content: &[u8], resources: Option<&'a Dictionary>) {
        for op in lopdf::content::Content::decode_iter(content) {
            let Ok(op) = op else {
                self.out.damaged = true;
                return;
            };
            let o = &op.operands;
            let f = |i: usize| o.get(i).and_then(num).unwrap_or(0.0);
            match op.operator.as_str() {
                "q" => self.stack.push(self.state.clone()),
                "Q" => {
                    if let Some(s) = self.stack.pop() {
                        self.state = s;
                    }
                }
                "cm" if o.len() == 6 => {
                    self.state.ctm = mul(&[f(0), f(1), f(2), f(3), f(4), f(5)], &self.state.ctm);
                }
                "BT" => {
                    self.tm = IDENTITY;
                    self.tlm = IDENTITY;
                }
                "Tf" => {
                    self.state.size = f(1);
                    let name = o.first().and_then(|n| n.as_name().ok()).unwrap_or(b"");
                    self.state.font = self.font(resources, name);
                }
                "TL" => self.state.leading = f(0),
                "Tc" => self.state.char_spacing = f(0),
                "Tw" => self.state.word_spacing = f(0),
                "Tz" => self.state.scale = f(0) / 100.0,
                "Ts" => self.state.rise = f(0),
                "Td" => self.next_line(f(0), f(1)),
                "TD" => {
                    self.state.leading = -f(1);
                    self.next_line(f(0), f(1));
                }
                "Tm" if o.len() == 6 => {
                    self.tlm = [f(0), f(1), f(2), f(3), f(4), f(5)];
                    self.tm = self.tlm;
                }
                "T*" => self.next_line(0.0, -self.state.leading),
                "Tj" => self.show_operand(o.first()),
                "'" => {
                    self.next_line(0.0, -self.state.leading);
                    self.show_operand(o.first());
                }
                "\"" => {
                    self.state.word_spacing = f(0);
                    self.state.char_spacing = f(1);
                    self.next_line(0.0, -self.state.leading);
                    self.show_operand(o.get(2));
                }
                "TJ" => {
                    let Some(Object::Array(items)) = o.first() else { continue };
                    for item in items {
                        match item {
                            Object::String(bytes, _) => self.show(bytes),
                            other => {
                                let adjust = num(other).unwrap_or(0.0);
                                let tx = -adjust / 1000.0 * self.state.size * self.state.scale;
                                self.tm = mul(&translate(tx, 0.0), &self.tm);
                            }
                        }
                    }
                }
                "Do" => {
                    let name = o.first().and_then(|n| n.as_name().ok()).unwrap_or(b"");
                    self.draw(resources, name);
                }
                _ => {}
            }
        }
    }

    fn next_line(&mut self, tx: f32, ty: f32) {
        self.tlm = mul(&translate(tx, ty), &self.tlm);
        self.tm = self.tlm;
    }

    fn font(&mut self, resources: Option<&'a Dictionary>, name: &[u8]) -> Option<usize> {
        let (_, object) = resource(self.doc, resources, b"Font", name)?;
        let dict = object.as_dict().ok()?;
        let key = dict as *const Dictionary;
        if let Some(i) = self.font_ids.get(&key) {
            return Some(*i);
        }
        self.fonts.push(Font::load(self.doc, dict));
        self.font_ids.insert(key, self.fonts.len() - 1);
        Some(self.fonts.len() - 1)
    }

    /// Text rendering matrix: glyph space to user space.
    fn trm(&self) -> Matrix {
        let s = &self.state;
        mul(&[s.size * s.scale, 0.0, 0.0, s.size, 0.0, s.rise], &mul(&self.tm, &s.ctm))
    }

    fn show_operand(&mut self, o: Option<&Object>) {
        if let Some(Object::String(bytes, _)) = o {
            self.show(bytes);
        }
    }

    fn show(&mut self, bytes: &[u8]) {
        let Some(font) = self.state.font.and_then(|i| self.fonts.get(i)) else { return };
        let trm = self.trm();
        let mut decoded = String::new();
        if let Some(encoding) = &font.encoding {
            if encoding.write_to_string(bytes, &mut decoded).is_err() {
                decoded.clear();
            }
        } else {
            decoded.extend(
                bytes.iter().filter(|b| b.is_ascii_graphic() || **b == b' ').map(|b| *b as char),
            );
        }
        let mut advance = 0.0;
        for code in font.codes(bytes) {
            let w = font.widths.of(code) / 1000.0 * self.state.size;
            let spacing = self.state.char_spacing
                + if !font.two_byte && code == 32 { self.state.word_spacing } else { 0.0 };
            advance += (w + spacing) * self.state.scale;
        }
        let visible: String = decoded
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .filter(|c| *c != '\u{fffd}')
            .collect();
        if !visible.trim().is_empty() {
            self.separate(&trm);
            self.out.text.push_str(&visible);
        }
        self.tm = mul(&translate(advance, 0.0), &self.tm);
        if !visible.trim().is_empty() {
            let end = self.trm();
            let (dx, dy) = (trm[0], trm[1]);
            let len = (dx * dx + dy * dy).sqrt().max(f32::EPSILON);
            let em = (trm[2] * trm[2] + trm[3] * trm[3]).sqrt();
            self.last = Some(End { at: (end[4], end[5]), dir: (dx / len, dy / len), em });
        }
    }

    /// A newline or a space between the last run and one starting at `trm`.
    fn separate(&mut self, trm: &Matrix) {
        let Some(last) = &self.last else { return };
        let text = &mut self.out.text;
        if text.is_empty() || text.ends_with('\n') {
            return;
        }
        let d = (trm[4] - last.at.0, trm[5] - last.at.1);
        let along = d.0 * last.dir.0 + d.1 * last.dir.1;
        let across = d.0 * last.dir.1 - d.1 * last.dir.0;
        let em = last.em.max(f32::EPSILON);
        if across.abs() > LINE_SHIFT * em {
            while text.ends_with(' ') {
                text.pop();
            }
            text.push('\n');
        } else if (along > SPACE_GAP * em || along < -em) && !text.ends_with(' ') {
            text.push(' ');
        }
    }

    /// `Do`: images are noted; forms are run with their own resources.
    fn draw(&mut self, resources: Option<&'a Dictionary>, name: &[u8]) {
        let Some((id, object)) = resource(self.doc, resources, b"XObject", name) else { return };
        let Ok(stream) = object.as_stream() else { return };
        match stream.dict.get(b"Subtype").and_then(Object::as_name) {
            Ok(b"Image") => {
                if let Some(id) = id
                    && self.seen_images.insert(id)
                {
                    self.out.images.push(id);
                }
            }
            Ok(b"Form") => {
                let Some(id) = id else { return };
                if self.forms.len() >= MAX_DEPTH || self.forms.contains(&id) {
                    return;
                }
                let Ok(content) = stream.decompressed_content_with_limit(MAX_CONTENT) else {
                    self.out.damaged = true;
                    return;
                };
                let own = stream
                    .dict
                    .get(b"Resources")
                    .ok()
                    .and_then(|o| deref(self.doc, o))
                    .and_then(|o| o.as_dict().ok());
                let matrix = stream.dict.get(b"Matrix").ok().and_then(|m| m.as_array().ok());
                let saved = (self.state.clone(), self.tm, self.tlm);
                if let Some(m) = matrix.filter(|m| m.len() == 6) {
                    let m: Vec<f32> = m.iter().map(|v| num(v).unwrap_or(0.0)).collect();
                    self.state.ctm = mul(&[m[0], m[1], m[2], m[3], m[4], m[5]], &self.state.ctm);
                }
                self.forms.push(id);
                let depth = self.stack.len();
                self.run(&content, own.or(resources));
                self.stack.truncate(depth);
                self.forms.pop();
                (self.state, self.tm, self.tlm) = saved;
            }
            _ => {}
        }
    }
}
