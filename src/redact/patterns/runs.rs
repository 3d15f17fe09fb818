//! Number runs that may hold several values side by side: their sub-runs
//! are tried when the whole fails, except where an earlier rule already
//! found a value it is sure of.

use super::{Check, Hit};

/// Validated values inside `start..end`, whose whole failed `check`, trying
/// sub-runs that start and end at group boundaries and hold a number of
/// digits in `digits`: leftmost first, longest first.
pub(super) fn split_hits(
    text: &str,
    start: usize,
    end: usize,
    digits: &std::ops::RangeInclusive<usize>,
    covered: &Covered,
    check: Check,
) -> Vec<Hit> {
    let s = &text[start..end];
    // Group boundaries, each with the number of digits before it.
    let mut starts = vec![(0, 0)];
    let mut ends = Vec::new();
    let mut seen = 0;
    for (i, b) in s.bytes().enumerate() {
        if matches!(b, b' ' | b'-' | b'.') {
            ends.push((i, seen));
            starts.push((i + 1, seen));
        }
        seen += usize::from(b.is_ascii_digit());
    }
    ends.push((s.len(), seen));
    let mut hits = Vec::new();
    let mut from = 0;
    for &(a, before) in &starts {
        if a < from {
            continue;
        }
        for &(b, upto) in ends.iter().rev() {
            if b <= a || upto - before < *digits.start() {
                break;
            }
            // The whole run failed its check before it was split.
            if (a, b) == (0, s.len())
                || upto - before > *digits.end()
                || covered.contains(start + a, start + b)
            {
                continue;
            }
            if let Some(hit) = check(text, start + a, start + b) {
                from = hit.end - start;
                hits.push(hit);
                break;
            }
        }
    }
    hits
}

/// Where earlier rules found values they are sure of. A number-run
/// candidate wholly inside one is not checked: overlapping findings merge to
/// their union, so it could not change the output (short of a request
/// threshold above [`Covered::SURE`]), and the digits of an IBAN or card
/// would otherwise be tried as phone numbers group by group.
#[derive(Default)]
pub(super) struct Covered(pub(super) Vec<(usize, usize)>);

impl Covered {
    pub(super) const SURE: f32 = 0.9;

    pub(super) fn contains(&self, start: usize, end: usize) -> bool {
        let i = self.0.partition_point(|&(s, _)| s <= start);
        i > 0 && self.0[i - 1].1 >= end
    }

    /// Whether every number-run candidate in `hay[from..]` lies inside one
    /// value found before, so that none needs its regex or its check. Such a
    /// candidate starts with a digit, `+` or `(` and ends with a digit.
    pub(super) fn holds_every_match(&self, hay: &str, from: usize) -> bool {
        let region = &hay.as_bytes()[from..];
        let Some(first) = region.iter().position(u8::is_ascii_digit) else { return true };
        let last = region.iter().rposition(u8::is_ascii_digit).unwrap_or(first);
        !region.iter().any(|&c| c == b'+' || c == b'(')
            && self.contains(from + first, from + last + 1)
    }

    pub(super) fn add(&mut self, mut spans: Vec<(usize, usize)>) {
        if spans.is_empty() {
            return;
        }
        // Both lists are sorted (a rule finds values left to right, region
        // by region), so they merge in one pass.
        spans.sort_unstable();
        let old = std::mem::take(&mut self.0);
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(old.len() + spans.len());
        let (mut a, mut b) = (old.into_iter().peekable(), spans.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x <= y => a.next(),
                (_, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            let Some((s, e)) = next else { break };
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.0 = merged;
    }
}
