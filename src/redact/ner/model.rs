//! One token-classification model file: what it is fed, and its calls.
//!
//! A model declares its inputs by name; Veil feeds the ones it knows
//! ([`Input`]) and refuses a model that asks for anything else.

use std::path::Path;

use ort::environment::Environment;
use ort::value::Tensor;

use super::super::RedactError;

/// Windows per model call.
const BATCH: usize = 16;
/// Windows share a call only when their lengths differ by at most this
/// many tokens: a call computes every window at the longest one's length,
/// and padding costs as much as text, more than a separate call would.
const PAD_SLACK: usize = 8;

/// What the model is fed, by the names of its inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Input {
    /// `input_ids`: the tokenizer's ids, with `[CLS]` and `[SEP]` around.
    Ids,
    /// `attention_mask`: 1 for each token, 0 for padding.
    Mask,
    /// `token_type_ids`: 0 throughout (one segment).
    Types,
    /// `case_ids`: each token's letter case ([`case_of`]); 0 for `[CLS]`,
    /// `[SEP]` and padding. The uncased vocabulary cannot tell "Rose"
    /// from "rose"; a model that declares this input can.
    Cases,
}

impl Input {
    fn named(name: &str) -> Option<Self> {
        match name {
            "input_ids" => Some(Self::Ids),
            "attention_mask" => Some(Self::Mask),
            "token_type_ids" => Some(Self::Types),
            "case_ids" => Some(Self::Cases),
            _ => None,
        }
    }
}

/// A token's letter case as `case_ids` gives it: 1 lower case, 2
/// capitalised, 3 capitals only (two letters or more), 4 digits without
/// letters, 5 anything else.
pub(super) fn case_of(token: &str) -> i64 {
    let mut letters = token.chars().filter(|c| c.is_alphabetic());
    match letters.next() {
        None if token.chars().any(char::is_numeric) => 4,
        None => 5,
        Some(first) if first.is_uppercase() => {
            let mut rest = letters.peekable();
            if rest.peek().is_some() && rest.all(char::is_uppercase) { 3 } else { 2 }
        }
        Some(_) => 1,
    }
}

/// The tokens of one window: their ids and, for a model that reads them,
/// their cases (else empty).
#[derive(Clone, Copy)]
pub(super) struct Row<'a> {
    pub ids: &'a [i64],
    pub cases: &'a [i64],
}

/// A model's pooled sessions and the inputs it declares.
pub(super) struct Model {
    sessions: crate::onnx::Pool,
    inputs: Vec<(String, Input)>,
    cls: i64,
    sep: i64,
    classes: usize,
}

impl Model {
    /// `pool` sessions of `threads` threads each on `file`, which must
    /// give `classes` scores per token; `cls` and `sep` open and close each
    /// window.
    pub fn load(
        runtime: &Environment,
        file: &Path,
        (pool, threads): (usize, usize),
        (cls, sep): (i64, i64),
        classes: usize,
    ) -> Result<Self, RedactError> {
        let sessions =
            crate::onnx::Pool::load(runtime, file, pool, threads).map_err(RedactError::Setup)?;
        let refuse = |why: String| RedactError::Setup(format!("model {}: {why}", file.display()));
        let inputs = sessions
            .input_names()
            .map_err(RedactError::Setup)?
            .into_iter()
            .map(|name| match Input::named(&name) {
                Some(input) => Ok((name, input)),
                None => Err(refuse(format!(
                    "input {name:?} is none of input_ids, attention_mask, token_type_ids, case_ids"
                ))),
            })
            .collect::<Result<Vec<_>, RedactError>>()?;
        if !inputs.iter().any(|(_, i)| *i == Input::Ids) {
            return Err(refuse("it has no input_ids input".into()));
        }
        Ok(Self { sessions, inputs, cls, sep, classes })
    }

    /// Whether the model reads `case_ids`.
    pub fn reads_cases(&self) -> bool {
        self.inputs.iter().any(|(_, i)| *i == Input::Cases)
    }

    /// One call's input of kind `input` for `batch`, `width` tokens a row
    /// with `[CLS]` and `[SEP]`.
    fn tensor(&self, input: Input, batch: &[Row<'_>], width: usize) -> Vec<i64> {
        let mut out = vec![0_i64; batch.len() * width];
        for (row, w) in out.chunks_exact_mut(width).zip(batch) {
            let n = w.ids.len();
            match input {
                Input::Ids => {
                    row[0] = self.cls;
                    row[1..=n].copy_from_slice(w.ids);
                    row[n + 1] = self.sep;
                }
                Input::Mask => row[..n + 2].fill(1),
                Input::Types => {}
                Input::Cases => row[1..=w.cases.len()].copy_from_slice(w.cases),
            }
        }
        out
    }

    /// Runs the windows; returns per-window, per-token (class, probability).
    pub fn infer(&self, windows: &[Row<'_>]) -> Result<Vec<Vec<(usize, f32)>>, RedactError> {
        let model_err = |e: &dyn std::fmt::Display| RedactError::Model(e.to_string());
        let mut out = vec![Vec::new(); windows.len()];
        let lengths: Vec<usize> = windows.iter().map(|w| w.ids.len()).collect();
        for batch_order in batches(&lengths) {
            let batch: Vec<Row<'_>> = batch_order.iter().map(|&i| windows[i]).collect();
            let width = batch.iter().map(|w| w.ids.len()).max().unwrap_or(0) + 2;
            let n = batch.len();
            let mut inputs = Vec::with_capacity(self.inputs.len());
            for (name, input) in &self.inputs {
                let values = self.tensor(*input, &batch, width);
                let tensor = Tensor::from_array(([n, width], values)).map_err(|e| model_err(&e))?;
                inputs.push((name.as_str(), tensor));
            }
            let mut session = self.sessions.get().map_err(RedactError::Model)?;
            let outputs = session.run(inputs).map_err(|e| model_err(&e))?;
            let (dims, logits) =
                outputs["logits"].try_extract_tensor::<f32>().map_err(|e| model_err(&e))?;
            let classes = usize::try_from(dims[2]).unwrap_or(0);
            if classes != self.classes {
                return Err(RedactError::Model(format!(
                    "model has {classes} classes, labels.json {}",
                    self.classes
                )));
            }
            for (b, w) in batch.iter().enumerate() {
                let mut tokens = Vec::with_capacity(w.ids.len());
                for t in 0..w.ids.len() {
                    let at = (b * width + t + 1) * classes;
                    tokens.push(softmax_argmax(&logits[at..at + classes]));
                }
                out[batch_order[b]] = tokens;
            }
        }
        Ok(out)
    }
}

/// The indices of windows of these lengths grouped into model calls: sorted
/// by length, at most [`BATCH`] a call, lengths within [`PAD_SLACK`] of each
/// other.
fn batches(windows: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.sort_by_key(|&i| windows[i]);
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match out.last_mut() {
            Some(batch) if batch.len() < BATCH && windows[i] <= windows[batch[0]] + PAD_SLACK => {
                batch.push(i);
            }
            _ => out.push(vec![i]),
        }
    }
    out
}

fn softmax_argmax(logits: &[f32]) -> (usize, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    let (best, value) = logits
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |acc, (i, &l)| if l > acc.1 { (i, l) } else { acc });
    (best, (value - max).exp() / sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_read_from_the_letters() {
        let cases: Vec<i64> =
            ["rose", "Rose", "ROSE", "McDonald", "I", "É", "éclair", "2024", "-", "O'Neil", "北京"]
                .into_iter()
                .map(case_of)
                .collect();
        assert_eq!(cases, [1, 2, 3, 2, 2, 2, 1, 4, 5, 2, 1]);
    }

    #[test]
    fn inputs_are_known_by_name() {
        assert_eq!(Input::named("case_ids"), Some(Input::Cases));
        assert_eq!(Input::named("input_ids"), Some(Input::Ids));
        assert_eq!(Input::named("pixel_values"), None);
    }

    #[test]
    fn calls_group_windows_of_similar_length() {
        let lens = [85, 20, 47, 22, 90, 26, 21];
        let got: Vec<Vec<usize>> =
            batches(&lens).into_iter().map(|b| b.into_iter().map(|i| lens[i]).collect()).collect();
        assert_eq!(got, [vec![20, 21, 22, 26], vec![47], vec![85, 90]]);
        let many = vec![10; BATCH + 1];
        assert_eq!(batches(&many).iter().map(Vec::len).collect::<Vec<_>>(), [BATCH, 1]);
    }
}
