//! Named entities (PERSON, LOCATION, ORGANIZATION) with a token-classification
//! model run by ONNX Runtime (`models/ner/`; how it was built is in its
//! README).
//!
//! The model reads the words that may be (part of) a name (`gate`) with
//! [`CONTEXT`] tokens around them; only the text around those words is
//! tokenized (`gate::regions_around`). It reads them in windows of at most
//! [`WINDOW`] tokens that overlap by [`OVERLAP`]; all windows of a request
//! run as batches of similar lengths. A token's label comes from the window
//! where it sits farthest from an edge.
//! BIO labels become spans, widened to whole words; a span's score is the
//! mean probability of its tokens. Sessions are pooled: ONNX Runtime runs
//! one call per session at a time.

use std::path::Path;

use ort::environment::Environment;
use tokenizers::Tokenizer;

mod common;
mod model;
mod names;

use common::CommonWords;
use model::{Model, Row, case_of};
use names::{
    firm_names, in_product_token, join_split_name, join_surname_first, names_in, origins,
    plausible, widen,
};

use super::entity::{Entity, EntitySet, Finding, Source};
use super::{RedactError, Redactor};

/// Content tokens per window (plus `[CLS]` and `[SEP]`).
const WINDOW: usize = 126;
/// Tokens shared by neighbouring windows.
const OVERLAP: usize = 2 * CONTEXT;

/// Loads ONNX Runtime from `library` once per process.
pub fn runtime(library: &Path) -> Result<&'static Environment, RedactError> {
    crate::onnx::runtime(library).map_err(RedactError::Setup)
}

#[derive(Clone, Copy)]
enum Tag {
    Outside,
    Begin(Entity),
    Inside(Entity),
}

/// A loaded model.
pub struct Ner {
    model: Model,
    tokenizer: Tokenizer,
    tags: Vec<Tag>,
    common: CommonWords,
}

impl Ner {
    /// Loads `dir/model.int8.onnx`, `dir/tokenizer.json`, `dir/labels.json`
    /// and, when there, `dir/common-words.txt`; `pool` sessions of
    /// `threads` threads each.
    pub fn load(
        runtime: &Environment,
        dir: &Path,
        pool: usize,
        threads: usize,
    ) -> Result<Self, RedactError> {
        let setup =
            |what: &str, e: &dyn std::fmt::Display| RedactError::Setup(format!("{what}: {e}"));
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| setup(&format!("tokenizer in {}", dir.display()), &e))?;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| setup("tokenizer", &e))?;
        let labels: Vec<String> = std::fs::read(dir.join("labels.json"))
            .map_err(|e| setup(&format!("labels in {}", dir.display()), &e))
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| setup("labels.json", &e)))?;
        let tags = labels
            .iter()
            .map(|l| match l.split_once('-') {
                None => Ok(Tag::Outside),
                Some((bio, name)) => {
                    let entity = Entity::parse(name).ok_or_else(|| setup("labels.json", &name))?;
                    Ok(if bio == "B" { Tag::Begin(entity) } else { Tag::Inside(entity) })
                }
            })
            .collect::<Result<Vec<_>, RedactError>>()?;
        let id =
            |t: &str| tokenizer.token_to_id(t).map(i64::from).ok_or_else(|| setup("tokenizer", &t));
        let marks = (id("[CLS]")?, id("[SEP]")?);
        let common =
            CommonWords::load(&dir.join("common-words.txt")).map_err(RedactError::Setup)?;
        let file = dir.join("model.int8.onnx");
        let model = Model::load(runtime, &file, (pool, threads), marks, tags.len())?;
        Ok(Self { model, tokenizer, tags, common })
    }

    /// How many words `common-words.txt` gave (0: spans are not checked).
    pub fn common_words(&self) -> usize {
        self.common.len()
    }
}

/// One text's tokens and the windows that run over them.
struct Prepared {
    text: usize,
    /// The lower-case words a phrase presents as a name ([`gate::cued_names`]).
    cued: Vec<(usize, usize)>,
    ids: Vec<i64>,
    /// Each token's [`case_of`], when a model reads it (else empty).
    cases: Vec<i64>,
    offsets: Vec<(usize, usize)>,
    windows: Vec<Window>,
}

/// Tokens `start..start + len` go to the model; the labels of
/// `start + keep.0..start + keep.1` are taken from it (the others are nearer
/// an edge of this window than of a neighbour).
#[derive(Debug, PartialEq)]
struct Window {
    start: usize,
    len: usize,
    keep: (usize, usize),
}

/// Tokens of context the model gets on each side of a word it reads. Short
/// windows are also what the model was trained on (sentences of at most 96
/// tokens). On `fixtures/pii` the MiniLM model scored NER F1 0.913 reading
/// whole lines with 32, and reading the words with 4, 6 and 8: 0.939, 0.946,
/// 0.940; the BiLSTM tagger scored 0.951 with 6 and 0.952 with 12. The
/// model's cost grows with the tokens it reads.
const CONTEXT: usize = 6;

/// Bytes of text tokenized on each side of a word the model reads: enough
/// for [`CONTEXT`] tokens of most scripts (a token is about 4 bytes of
/// English, fewer of a long compound word).
const CONTEXT_BYTES: usize = CONTEXT * 12;

/// Tokens `tokens.0..tokens.1` are read; `region` is the range of tokens
/// that were tokenized together around them, which bounds their context.
#[derive(Clone, Copy)]
struct Read {
    tokens: (usize, usize),
    region: (usize, usize),
}

/// The windows over `reads` (sorted), each widened by [`CONTEXT`] tokens on
/// both sides within its region; ranges that touch are merged, long ones
/// cut into overlapping windows.
fn windows_over(reads: &[Read]) -> Vec<Window> {
    let mut merged: Vec<Read> = Vec::new();
    for &Read { tokens: (a, b), region } in reads {
        let (a, b) = (a.saturating_sub(CONTEXT).max(region.0), (b + CONTEXT).min(region.1));
        match merged.last_mut() {
            Some(last) if last.region == region && a <= last.tokens.1 => {
                last.tokens.1 = last.tokens.1.max(b);
            }
            _ => merged.push(Read { tokens: (a, b), region }),
        }
    }
    let mut out = Vec::new();
    for Read { tokens: (a, b), .. } in merged {
        let parts = windows_of(b - a);
        let last = parts.len().saturating_sub(1);
        for (i, (s, n)) in parts.into_iter().enumerate() {
            let lo = if i == 0 { 0 } else { OVERLAP / 2 };
            let hi = if i == last { n } else { n - OVERLAP / 2 };
            out.push(Window { start: a + s, len: n, keep: (lo, hi) });
        }
    }
    out
}

fn windows_of(len: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < len {
        let n = WINDOW.min(len - start);
        out.push((start, n));
        if start + n >= len {
            break;
        }
        start += WINDOW - OVERLAP;
    }
    out
}

impl Redactor for Ner {
    fn find(
        &self,
        text: &str,
        wanted: EntitySet,
        out: &mut Vec<Finding>,
    ) -> Result<(), RedactError> {
        super::find_one(self, text, wanted, out)
    }

    fn find_batch(
        &self,
        texts: &[&str],
        wanted: EntitySet,
    ) -> Result<Vec<Vec<Finding>>, RedactError> {
        let mut prepared = Vec::new();
        for (t, text) in texts.iter().enumerate() {
            let cued = super::gate::cued_names(text);
            let spans = super::gate::spans_to_read_with(text, &cued);
            if spans.is_empty() {
                continue;
            }
            // Only the text around the spans is tokenized; the model reads
            // the spans with some context around them, within their region.
            let mut ids: Vec<i64> = Vec::new();
            let mut offsets: Vec<(usize, usize)> = Vec::new();
            let mut reads: Vec<Read> = Vec::new();
            let regions = super::gate::regions_around(text, &spans, CONTEXT_BYTES);
            let mut spans = spans.into_iter().peekable();
            for (from, to) in regions {
                let encoding = self
                    .tokenizer
                    .encode(&text[from..to], false)
                    .map_err(|e| RedactError::Model(format!("tokenizer: {e}")))?;
                let region = (ids.len(), ids.len() + encoding.get_ids().len());
                ids.extend(encoding.get_ids().iter().map(|&i| i64::from(i)));
                offsets.extend(encoding.get_offsets().iter().map(|&(a, b)| (a + from, b + from)));
                let tokens = &offsets[region.0..];
                while let Some((a, b)) = spans.next_if(|&(a, _)| a < to) {
                    let first = region.0 + tokens.partition_point(|o| o.1 <= a);
                    let end = region.0 + tokens.partition_point(|o| o.0 < b);
                    if first < end {
                        reads.push(Read { tokens: (first, end), region });
                    }
                }
            }
            let windows = windows_over(&reads);
            let cases = if self.model.reads_cases() {
                offsets.iter().map(|&(a, b)| text.get(a..b).map_or(5, case_of)).collect()
            } else {
                Vec::new()
            };
            prepared.push(Prepared { text: t, cued, ids, cases, offsets, windows });
        }
        let rows: Vec<Row<'_>> = prepared
            .iter()
            .flat_map(|p| {
                p.windows.iter().map(|w| Row {
                    ids: &p.ids[w.start..w.start + w.len],
                    cases: p.cases.get(w.start..w.start + w.len).unwrap_or_default(),
                })
            })
            .collect();
        let mut predictions = self.model.infer(&rows)?.into_iter();
        let mut all = vec![Vec::new(); texts.len()];
        for p in &prepared {
            let mut tokens = vec![(0_usize, 0_f32); p.ids.len()];
            for w in &p.windows {
                let Some(pred) = predictions.next() else { break };
                let (lo, hi) = (w.keep.0, w.keep.1.min(pred.len()));
                if lo < hi {
                    tokens[w.start + lo..w.start + hi].copy_from_slice(&pred[lo..hi]);
                }
            }
            all[p.text] = self.spans(texts[p.text], &p.cued, &p.offsets, &tokens, wanted);
        }
        Ok(all)
    }
}

impl Ner {
    fn spans(
        &self,
        text: &str,
        cued: &[(usize, usize)],
        offsets: &[(usize, usize)],
        tokens: &[(usize, f32)],
        wanted: EntitySet,
    ) -> Vec<Finding> {
        let mut out: Vec<Finding> = Vec::new();
        let mut current: Option<(Entity, usize, usize, f32, u32)> = None;
        let cased = text.chars().any(char::is_uppercase);
        let close = |c: Option<(Entity, usize, usize, f32, u32)>, out: &mut Vec<Finding>| {
            if let Some((entity, start, end, sum, n)) = c {
                let (start, end) = widen(text, start, end);
                for (entity, s, e) in names_in(text, start, end, entity, cased, cued) {
                    if !plausible(entity, &text[s..e]) || in_product_token(text, s, e) {
                        continue;
                    }
                    // Everyday words the model took for a person or a place;
                    // organisations are often named with them ("Deutsche
                    // Bank"), so those stay.
                    if matches!(entity, Entity::Person | Entity::Location)
                        && self.common.only_common(&text[s..e])
                    {
                        continue;
                    }
                    out.push(Finding::new(entity, s, e, sum / n as f32, Source::Ner));
                }
            }
        };
        for (i, (&(start, end), &(tag, prob))) in offsets.iter().zip(tokens).enumerate() {
            let glued = i > 0
                && offsets[i - 1].1 == start
                && text.get(start..end).is_some_and(|s| s.chars().all(char::is_alphanumeric));
            match self.tags.get(tag).copied().unwrap_or(Tag::Outside) {
                Tag::Begin(e) if !(glued && current.is_some_and(|c| c.0 == e)) => {
                    close(current.take(), &mut out);
                    current = Some((e, start, end, prob, 1));
                }
                Tag::Begin(e) | Tag::Inside(e) if current.is_some_and(|c| c.0 == e) => {
                    if let Some(c) = current.as_mut() {
                        c.2 = end;
                        c.3 += prob;
                        c.4 += 1;
                    }
                }
                Tag::Inside(e) => {
                    close(current.take(), &mut out);
                    current = Some((e, start, end, prob, 1));
                }
                _ => {
                    // A word piece of a tagged word belongs to it.
                    if glued && current.is_some() {
                        if let Some(c) = current.as_mut() {
                            c.2 = end;
                        }
                    } else {
                        close(current.take(), &mut out);
                    }
                }
            }
        }
        close(current, &mut out);
        out.retain(|f| wanted.contains(f.entity) && f.end > f.start);
        join_surname_first(text, &mut out);
        join_split_name(text, &mut out);
        firm_names(text, &mut out);
        // Without the word list, an everyday word could not be told apart.
        if wanted.contains(Entity::Location) && self.common.len() > 0 {
            for (s, e) in origins(text, &out) {
                if self.common.only_common(&text[s..e]) {
                    continue;
                }
                match out.iter_mut().find(|f| f.start < e && s < f.end) {
                    // "Maria aus Dresden": not a second person.
                    Some(f) if (f.start, f.end, f.entity) == (s, e, Entity::Person) => {
                        f.entity = Entity::Location;
                    }
                    Some(_) => {}
                    None => out.push(Finding::new(Entity::Location, s, e, 0.7, Source::Ner)),
                }
            }
            out.sort_by_key(|f| f.start);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_long_inputs_with_overlap() {
        assert_eq!(windows_of(0), vec![]);
        assert_eq!(windows_of(10), vec![(0, 10)]);
        let w = windows_of(300);
        assert_eq!(w[0], (0, WINDOW));
        assert_eq!(w[1].0, WINDOW - OVERLAP);
        let (s, n) = *w.last().unwrap();
        assert_eq!(s + n, 300);
    }

    #[test]
    fn windows_cover_the_words_read_with_context() {
        let read = |a, b, region| Read { tokens: (a, b), region };
        let whole = (0, 1000);
        // Two words close together share a window; a far one has its own.
        let w = windows_over(&[read(40, 50, whole), read(60, 70, whole), read(400, 410, whole)]);
        assert_eq!(w.len(), 2);
        let merged = 30 + 2 * CONTEXT;
        assert_eq!((w[0].start, w[0].len, w[0].keep), (40 - CONTEXT, merged, (0, merged)));
        assert_eq!((w[1].start, w[1].len), (400 - CONTEXT, 10 + 2 * CONTEXT));
        // The context stops at the edges of the region the word was
        // tokenized in, and words of different regions never share one.
        let w = windows_over(&[read(1, 3, (0, 5)), read(5, 6, (5, 9))]);
        assert_eq!(w.iter().map(|w| (w.start, w.len)).collect::<Vec<_>>(), [(0, 5), (5, 4)]);
        // A long span is cut into overlapping windows; each keeps its middle.
        let w = windows_over(&[read(0, 300, (0, 300))]);
        assert!(w.len() > 2);
        assert_eq!(w[0].keep.0, 0);
        assert_eq!(w[1].keep, (OVERLAP / 2, WINDOW - OVERLAP / 2));
        assert_eq!(w.last().map(|w| w.start + w.len), Some(300));
    }
}
