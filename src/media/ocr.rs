//! Text in images with PP-OCRv6 small (Apache-2.0; see `models/media/`):
//! a detector that maps where text is, and a recognizer that reads one line
//! at a time.
//!
//! - Detection: the image scaled so its shorter side is about [`DET_SIDE`]
//!   (its longer side at most [`DET_MAX`]), BGR, `(x/255 - 0.5)/0.5`. Pixels
//!   over [`DET_PIXEL`] are grouped into connected regions; a region whose
//!   mean probability is over [`DET_REGION`] is a line. Its rotated box
//!   comes from the region's principal axis (so rotated text is read
//!   along its slope), grown by area·1.6/perimeter as PP-OCR does.
//! - Recognition: each box is sampled into a 48-pixel-high strip along its
//!   axis, strips of similar widths run as one batch, and CTC greedy
//!   decoding gives the characters with the strip column each was read at.
//!   A line read with low confidence is read again turned half a turn
//!   (upside-down text), and the better reading is kept.

use std::path::Path;

use image::RgbaImage;
use image::imageops::FilterType;
use ort::environment::Environment;
use ort::value::Tensor;

use super::MediaError;
use super::paint::Quad;
use crate::onnx::Pool;

const DET_SIDE: f32 = 736.0;
const DET_MAX: f32 = 2016.0;
const DET_PIXEL: f32 = 0.3;
const DET_REGION: f32 = 0.5;
const UNCLIP: f32 = 1.6;
const REC_HEIGHT: usize = 48;
const REC_MAX_WIDTH: usize = 48 * 40;
const REC_BATCH: usize = 8;
/// Below this mean character probability a line is read again upside-down.
const RETRY_BELOW: f32 = 0.75;

/// One line of text: where it is, what it says, and where along the line
/// each character was read.
#[derive(Debug, Clone)]
pub struct Line {
    pub quad: Quad,
    pub text: String,
    /// Mean probability of the characters read.
    pub score: f32,
    /// Per character: its byte offset in `text` and its extent along the
    /// line as a share of the line's length (`0..1`).
    pub chars: Vec<(usize, f32, f32)>,
}

impl Line {
    /// The extent along the line (`0..1`) of the bytes `start..end` of `text`.
    pub fn extent(&self, start: usize, end: usize) -> Option<(f32, f32)> {
        let first = self.chars.iter().find(|c| c.0 >= start && c.0 < end)?;
        let last = self.chars.iter().rev().find(|c| c.0 >= start && c.0 < end).unwrap_or(first);
        Some((first.1, last.2))
    }
}

pub struct Ocr {
    det: Pool,
    rec: Pool,
    /// Class `i + 1` of the recognizer is `chars[i]`; class 0 is the CTC
    /// blank and the last class a space.
    chars: Vec<String>,
}

fn model_error(what: &str) -> impl Fn(&dyn std::fmt::Display) -> MediaError + '_ {
    move |e| MediaError::Model(format!("{what}: {e}"))
}

impl Ocr {
    pub fn load(
        runtime: &Environment,
        det: &Path,
        rec: &Path,
        pool: usize,
        threads: usize,
    ) -> Result<Self, String> {
        let det = Pool::load(runtime, det, pool, threads)?;
        let rec_pool = Pool::load(runtime, rec, pool, threads)?;
        let chars = {
            let session = rec_pool.get()?;
            let metadata = session.metadata().map_err(|e| format!("{}: {e}", rec.display()))?;
            metadata.custom("character").ok_or_else(|| {
                format!("{}: no `character` dictionary in the model's metadata", rec.display())
            })?
        };
        let chars = chars.split('\n').map(str::to_owned).collect();
        Ok(Self { det, rec: rec_pool, chars })
    }

    /// Every line of text in `image`, top to bottom.
    pub fn read(&self, image: &RgbaImage) -> Result<Vec<Line>, MediaError> {
        let quads = self.detect(image)?;
        let mut lines = self.recognize(image, &quads)?;
        let retry: Vec<usize> =
            (0..lines.len()).filter(|&i| lines[i].score < RETRY_BELOW).collect();
        if !retry.is_empty() {
            let turned: Vec<Quad> = retry
                .iter()
                .map(|&i| {
                    let q = lines[i].quad;
                    Quad { axis: (-q.axis.0, -q.axis.1), ..q }
                })
                .collect();
            for (i, line) in retry.into_iter().zip(self.recognize(image, &turned)?) {
                if line.score > lines[i].score {
                    lines[i] = line;
                }
            }
        }
        lines.retain(|l| !l.text.trim().is_empty());
        lines.sort_by(|a, b| a.quad.center.1.total_cmp(&b.quad.center.1));
        Ok(lines)
    }

    fn detect(&self, image: &RgbaImage) -> Result<Vec<Quad>, MediaError> {
        let (w, h) = image.dimensions();
        let (short, long) = (w.min(h) as f32, w.max(h) as f32);
        let scale = (DET_SIDE / short).min(DET_MAX / long);
        let (sw, sh) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let scaled = image::imageops::resize(image, sw, sh, FilterType::Triangle);
        let (pw, ph) = (sw.div_ceil(32) as usize * 32, sh.div_ceil(32) as usize * 32);
        let plane = pw * ph;
        let mut input = vec![0_f32; 3 * plane];
        for (x, y, p) in scaled.enumerate_pixels() {
            let at = y as usize * pw + x as usize;
            for c in 0..3 {
                // BGR
                input[c * plane + at] = f32::from(p.0[2 - c]) / 127.5 - 1.0;
            }
        }
        let err = model_error("text detector");
        let tensor = Tensor::from_array(([1, 3, ph, pw], input)).map_err(|e| err(&e))?;
        let mut session = self.det.get().map_err(|e| err(&e))?;
        let outputs = session.run(ort::inputs!["x" => tensor]).map_err(|e| err(&e))?;
        let (dims, prob) = outputs[0].try_extract_tensor::<f32>().map_err(|e| err(&e))?;
        let (oh, ow) = (dims[2] as usize, dims[3] as usize);
        if prob.len() < oh * ow {
            return Err(err(&"unexpected output shape"));
        }
        let regions = regions(prob, ow, (sw as usize).min(ow), (sh as usize).min(oh));
        Ok(regions
            .into_iter()
            .map(|q| Quad {
                center: (q.center.0 / scale, q.center.1 / scale),
                axis: q.axis,
                half: (q.half.0 / scale, q.half.1 / scale),
            })
            .collect())
    }

    fn recognize(&self, image: &RgbaImage, quads: &[Quad]) -> Result<Vec<Line>, MediaError> {
        let widths: Vec<usize> = quads
            .iter()
            .map(|q| {
                let ratio = q.half.0 / q.half.1.max(0.5);
                ((REC_HEIGHT as f32 * ratio).ceil() as usize).clamp(8, REC_MAX_WIDTH)
            })
            .collect();
        let mut order: Vec<usize> = (0..quads.len()).collect();
        order.sort_by_key(|&i| widths[i]);
        let mut lines: Vec<Option<Line>> = vec![None; quads.len()];
        let err = model_error("text recognizer");
        for batch in order.chunks(REC_BATCH) {
            let width = batch.iter().map(|&i| widths[i]).max().unwrap_or(8);
            let plane = REC_HEIGHT * width;
            let mut input = vec![0_f32; batch.len() * 3 * plane];
            for (b, &i) in batch.iter().enumerate() {
                strip(
                    image,
                    &quads[i],
                    widths[i],
                    width,
                    &mut input[b * 3 * plane..(b + 1) * 3 * plane],
                );
            }
            let tensor = Tensor::from_array(([batch.len(), 3, REC_HEIGHT, width], input))
                .map_err(|e| err(&e))?;
            let mut session = self.rec.get().map_err(|e| err(&e))?;
            let outputs = session.run(ort::inputs!["x" => tensor]).map_err(|e| err(&e))?;
            let (dims, probs) = outputs[0].try_extract_tensor::<f32>().map_err(|e| err(&e))?;
            let (steps, classes) = (dims[1] as usize, dims[2] as usize);
            if classes != self.chars.len() + 2 || probs.len() < batch.len() * steps * classes {
                return Err(err(&format!(
                    "{classes} classes for a dictionary of {} characters",
                    self.chars.len()
                )));
            }
            for (b, &i) in batch.iter().enumerate() {
                let rows = &probs[b * steps * classes..(b + 1) * steps * classes];
                // The share of the padded strip that is this line.
                let used = widths[i] as f32 / width as f32;
                lines[i] = Some(self.decode(rows, steps, classes, used, quads[i]));
            }
        }
        Ok(lines.into_iter().flatten().collect())
    }

    /// CTC greedy decoding of one line.
    fn decode(&self, rows: &[f32], steps: usize, classes: usize, used: f32, quad: Quad) -> Line {
        let mut text = String::new();
        let mut at: Vec<(usize, usize)> = Vec::new(); // (byte offset, step)
        let mut sum = 0.0;
        let mut previous = 0;
        for t in 0..steps {
            let row = &rows[t * classes..(t + 1) * classes];
            let (best, p) = row
                .iter()
                .enumerate()
                .fold((0, f32::MIN), |acc, (k, &v)| if v > acc.1 { (k, v) } else { acc });
            if best != 0 && best != previous {
                let ch = self.chars.get(best - 1).map_or(" ", String::as_str);
                at.push((text.len(), t));
                text.push_str(ch);
                sum += p;
            }
            previous = best;
        }
        let step = 1.0 / (steps as f32 * used);
        let mut chars = Vec::with_capacity(at.len());
        for (k, &(offset, t)) in at.iter().enumerate() {
            let centre = (t as f32 + 0.5) * step;
            let left = if k == 0 {
                centre - 1.5 * step
            } else {
                (at[k - 1].1 + t + 1) as f32 * step / 2.0
            };
            let right =
                at.get(k + 1).map_or(centre + 1.5 * step, |n| (t + n.1 + 1) as f32 * step / 2.0);
            chars.push((offset, left.clamp(0.0, 1.0), right.clamp(0.0, 1.0)));
        }
        let score = if at.is_empty() { 0.0 } else { sum / at.len() as f32 };
        Line { quad, text, score, chars }
    }
}

/// Samples `quad` of `image` into a strip `width` wide (of a `padded`-wide
/// plane), normalised as the recognizer wants (BGR, `-1..1`).
fn strip(image: &RgbaImage, quad: &Quad, width: usize, padded: usize, out: &mut [f32]) {
    let plane = REC_HEIGHT * padded;
    let (iw, ih) = image.dimensions();
    for y in 0..REC_HEIGHT {
        let v = (y as f32 + 0.5) / REC_HEIGHT as f32 * 2.0 - 1.0;
        for x in 0..width {
            let u = (x as f32 + 0.5) / width as f32 * 2.0 - 1.0;
            let (sx, sy) = quad.at(u, v);
            let p = bilinear(image, iw, ih, sx - 0.5, sy - 0.5);
            for c in 0..3 {
                out[c * plane + y * padded + x] = p[2 - c] / 127.5 - 1.0;
            }
        }
    }
}

fn bilinear(image: &RgbaImage, w: u32, h: u32, x: f32, y: f32) -> [f32; 3] {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let px = |x, y| image.get_pixel(x, y).0;
    let (a, b, c, d) = (px(x0, y0), px(x1, y0), px(x0, y1), px(x1, y1));
    let mut out = [0.0; 3];
    for k in 0..3 {
        let top = f32::from(a[k]) * (1.0 - fx) + f32::from(b[k]) * fx;
        let bottom = f32::from(c[k]) * (1.0 - fx) + f32::from(d[k]) * fx;
        out[k] = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// Lines of the probability map `prob` (`stride` wide; only the `w`×`h`
/// corner is image, the rest padding), in map pixels.
fn regions(prob: &[f32], stride: usize, w: usize, h: usize) -> Vec<Quad> {
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut pixels: Vec<(usize, usize)> = Vec::new();
    let mut out = Vec::new();
    for start in 0..w * h {
        let (sx, sy) = (start % w, start / w);
        if seen[start] || prob[sy * stride + sx] <= DET_PIXEL {
            continue;
        }
        seen[start] = true;
        stack.push((sx, sy));
        pixels.clear();
        while let Some((x, y)) = stack.pop() {
            pixels.push((x, y));
            for (dx, dy) in
                [(-1_i64, 0_i64), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)]
            {
                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let (nx, ny) = (nx as usize, ny as usize);
                let i = ny * w + nx;
                if !seen[i] && prob[ny * stride + nx] > DET_PIXEL {
                    seen[i] = true;
                    stack.push((nx, ny));
                }
            }
        }
        if pixels.len() < 6 {
            continue;
        }
        let mean =
            pixels.iter().map(|&(x, y)| prob[y * stride + x]).sum::<f32>() / pixels.len() as f32;
        if mean < DET_REGION {
            continue;
        }
        if let Some(quad) = oriented_box(&pixels) {
            out.push(quad);
        }
    }
    out
}

/// The rotated box of a region along its principal axis, grown as PP-OCR's
/// "unclip" does. Nearly square or nearly level regions are kept level.
fn oriented_box(pixels: &[(usize, usize)]) -> Option<Quad> {
    let n = pixels.len() as f32;
    let (mx, my) =
        pixels.iter().fold((0.0, 0.0), |(sx, sy), &(x, y)| (sx + x as f32, sy + y as f32));
    let (mx, my) = (mx / n, my / n);
    let (mut sxx, mut syy, mut sxy) = (0.0_f32, 0.0_f32, 0.0_f32);
    for &(x, y) in pixels {
        let (dx, dy) = (x as f32 - mx, y as f32 - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let mut angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let extent = |angle: f32| {
        let (c, s) = (angle.cos(), angle.sin());
        let mut r = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for &(x, y) in pixels {
            let (dx, dy) = (x as f32 - mx, y as f32 - my);
            let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
            r = [r[0].min(u), r[1].min(v), r[2].max(u), r[3].max(v)];
        }
        r
    };
    let r = extent(angle);
    if angle.abs() < 3_f32.to_radians() || (r[2] - r[0]) < 1.5 * (r[3] - r[1]) {
        angle = 0.0;
    }
    let r = extent(angle);
    let (c, s) = (angle.cos(), angle.sin());
    let (hw, hh) = ((r[2] - r[0]) / 2.0 + 0.5, (r[3] - r[1]) / 2.0 + 0.5);
    if hw.min(hh) < 1.5 {
        return None;
    }
    let grow = (4.0 * hw * hh) * UNCLIP / (4.0 * (hw + hh));
    let (cu, cv) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
    let center = (mx + cu * c - cv * s + 0.5, my + cu * s + cv * c + 0.5);
    Some(Quad { center, axis: (c, s), half: (hw + grow, hh + grow) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(w: usize, h: usize, on: impl Fn(usize, usize) -> bool) -> Vec<f32> {
        (0..w * h).map(|i| if on(i % w, i / w) { 0.9 } else { 0.0 }).collect()
    }

    #[test]
    fn a_level_line_becomes_one_level_box() {
        let prob = map(100, 40, |x, y| (10..90).contains(&x) && (15..25).contains(&y));
        let quads = regions(&prob, 100, 100, 40);
        assert_eq!(quads.len(), 1);
        let q = quads[0];
        assert_eq!(q.axis, (1.0, 0.0));
        assert!((q.center.0 - 50.0).abs() < 1.0 && (q.center.1 - 20.0).abs() < 1.0, "{q:?}");
        // 80x10 grown by area*1.6/perimeter = 800*1.6/180 = 7.1 on each side.
        assert!((q.half.0 - 47.1).abs() < 0.5 && (q.half.1 - 12.1).abs() < 0.5, "{q:?}");
    }

    #[test]
    fn a_sloped_line_is_read_along_its_slope() {
        let slope = 20_f32.to_radians().tan();
        let prob = map(200, 120, |x, y| {
            (20..180).contains(&x) && ((y as f32) - (30.0 + x as f32 * slope)).abs() < 5.0
        });
        let quads = regions(&prob, 200, 200, 120);
        assert_eq!(quads.len(), 1);
        let angle = quads[0].axis.1.atan2(quads[0].axis.0).to_degrees();
        assert!((angle - 20.0).abs() < 2.0, "{angle}");
    }

    #[test]
    fn separate_lines_and_padding_stay_apart() {
        // Two lines; the map is 64 wide but only 50 columns are image.
        let prob = map(64, 30, |x, y| {
            (x < 40 && ((3..8).contains(&y) || (18..23).contains(&y))) || x >= 50
        });
        assert_eq!(regions(&prob, 64, 50, 30).len(), 2);
    }

    #[test]
    fn extents_cover_the_characters_of_a_span() {
        let line = Line {
            quad: Quad { center: (0.0, 0.0), axis: (1.0, 0.0), half: (1.0, 1.0) },
            text: "ab cd".into(),
            score: 1.0,
            chars: vec![(0, 0.0, 0.2), (1, 0.2, 0.4), (2, 0.4, 0.6), (3, 0.6, 0.8), (4, 0.8, 1.0)],
        };
        assert_eq!(line.extent(3, 5), Some((0.6, 1.0)));
        assert_eq!(line.extent(0, 1), Some((0.0, 0.2)));
        assert_eq!(line.extent(9, 10), None);
    }
}
