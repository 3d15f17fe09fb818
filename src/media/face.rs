//! Faces with CenterFace (`centerface.onnx`, MIT; see `models/media/`).
//!
//! The image is scaled so its longer side is at most [`MAX_SIDE`] and
//! padded to multiples of 32. The model returns a heatmap of face centres
//! and, at each cell, the box size (log scale) and the centre's offset, all
//! at a quarter of the input resolution. Cells over the threshold become
//! boxes; boxes overlapping a better one by more than [`NMS_IOU`] are
//! dropped.

use std::path::Path;

use image::RgbaImage;
use image::imageops::FilterType;
use ort::environment::Environment;
use ort::value::Tensor;

use super::MediaError;
use super::paint::Rect;
use crate::onnx::Pool;

/// The longer side the detector sees at most (larger images are scaled
/// down; faces of about 10 px at this scale are still found).
const MAX_SIDE: u32 = 1280;
const NMS_IOU: f32 = 0.3;

/// A face: its box in image pixels and the model's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    pub rect: Rect,
    pub score: f32,
}

pub struct FaceDetector {
    sessions: Pool,
}

impl FaceDetector {
    pub fn load(
        runtime: &Environment,
        model: &Path,
        pool: usize,
        threads: usize,
    ) -> Result<Self, String> {
        Ok(Self { sessions: Pool::load(runtime, model, pool, threads)? })
    }

    /// Faces scored at least `threshold`, best first.
    pub fn detect(&self, image: &RgbaImage, threshold: f32) -> Result<Vec<Face>, MediaError> {
        let (w, h) = image.dimensions();
        let scale = (MAX_SIDE as f32 / w.max(h) as f32).min(1.0);
        let (sw, sh) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let scaled = if scale < 1.0 {
            image::imageops::resize(image, sw, sh, FilterType::Triangle)
        } else {
            image.clone()
        };
        let (pw, ph) = (sw.div_ceil(32) * 32, sh.div_ceil(32) * 32);
        let plane = (pw * ph) as usize;
        let mut input = vec![0_f32; 3 * plane];
        for (x, y, p) in scaled.enumerate_pixels() {
            let at = (y * pw + x) as usize;
            for c in 0..3 {
                input[c * plane + at] = f32::from(p.0[c]);
            }
        }
        let model = |e: &dyn std::fmt::Display| MediaError::Model(format!("face detector: {e}"));
        let tensor =
            Tensor::from_array(([1, 3, ph as usize, pw as usize], input)).map_err(|e| model(&e))?;
        let mut session = self.sessions.get().map_err(|e| model(&e))?;
        let outputs = session.run(ort::inputs!["input.1" => tensor]).map_err(|e| model(&e))?;
        let output = |name: &str| outputs[name].try_extract_tensor::<f32>().map_err(|e| model(&e));
        let (dims, heat) = output("537")?;
        let (_, sizes) = output("538")?;
        let (_, offsets) = output("539")?;
        let (gh, gw) = (dims[2] as usize, dims[3] as usize);
        let cells = gh * gw;
        if heat.len() < cells || sizes.len() < 2 * cells || offsets.len() < 2 * cells {
            return Err(MediaError::Model("face detector: unexpected output shape".into()));
        }
        let mut faces = Vec::new();
        for gy in 0..gh {
            for gx in 0..gw {
                let i = gy * gw + gx;
                let score = heat[i];
                if score < threshold {
                    continue;
                }
                let (fh, fw) = (sizes[i].exp() * 4.0, sizes[cells + i].exp() * 4.0);
                let cy = (gy as f32 + offsets[i] + 0.5) * 4.0;
                let cx = (gx as f32 + offsets[cells + i] + 0.5) * 4.0;
                let rect = [
                    ((cx - fw / 2.0) / scale).max(0.0),
                    ((cy - fh / 2.0) / scale).max(0.0),
                    ((cx + fw / 2.0) / scale).min(w as f32),
                    ((cy + fh / 2.0) / scale).min(h as f32),
                ];
                faces.push(Face { rect, score });
            }
        }
        Ok(suppress(faces))
    }
}

/// Non-maximum suppression: best first, overlapping ones dropped.
fn suppress(mut faces: Vec<Face>) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for face in faces {
        if kept.iter().all(|k| iou(&k.rect, &face.rect) <= NMS_IOU) {
            kept.push(face);
        }
    }
    kept
}

fn iou(a: &Rect, b: &Rect) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &Rect| (r[2] - r[0]) * (r[3] - r[1]);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// `rect` grown by `share` of its size on every side (a face box is tight;
/// hair, ears and chin are identifying too).
pub fn with_margin(rect: Rect, share: f32) -> Rect {
    let (mw, mh) = ((rect[2] - rect[0]) * share, (rect[3] - rect[1]) * share);
    [rect[0] - mw, rect[1] - mh, rect[2] + mw, rect[3] + mh]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_boxes_keep_the_best() {
        let faces = vec![
            Face { rect: [0.0, 0.0, 10.0, 10.0], score: 0.7 },
            Face { rect: [1.0, 1.0, 11.0, 11.0], score: 0.9 },
            Face { rect: [50.0, 50.0, 60.0, 60.0], score: 0.8 },
        ];
        let kept = suppress(faces);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].rect, [50.0, 50.0, 60.0, 60.0]);
    }

    #[test]
    fn margins_grow_every_side() {
        assert_eq!(with_margin([10.0, 20.0, 30.0, 60.0], 0.25), [5.0, 10.0, 35.0, 70.0]);
    }
}
