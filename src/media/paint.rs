//! What redaction does to pixels: faces made unrecognisable (`gaussian`,
//! `pixelate` or `fill`) and text boxes filled. Everything here destroys
//! information for good: the gaussian mode averages the box into coarse
//! blocks before it smooths them, so no deconvolution can bring features
//! back.

use image::{Rgba, RgbaImage};

/// How faces are hidden (`piiConfig.image.blur`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Blur {
    /// Coarse blocks, then a strong smoothing: looks blurred, holds nothing.
    #[default]
    Gaussian,
    /// Coarse blocks (about six across a face).
    Pixelate,
    /// One solid colour.
    Fill,
}

/// The colour of filled boxes.
pub const FILL: Rgba<u8> = Rgba([0, 0, 0, 255]);

/// An axis-aligned box `[x0, y0, x1, y1]` in pixels.
pub type Rect = [f32; 4];

/// A rotated rectangle: its centre, the unit vector of its long side, and
/// its half-length and half-height along that side and across it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quad {
    pub center: (f32, f32),
    pub axis: (f32, f32),
    pub half: (f32, f32),
}

impl Quad {
    /// The point at `(u, v)` in the quad's own frame (`-1..1` on each axis).
    pub fn at(&self, u: f32, v: f32) -> (f32, f32) {
        let (ax, ay) = self.axis;
        let (x, y) = (u * self.half.0, v * self.half.1);
        (self.center.0 + x * ax - y * ay, self.center.1 + x * ay + y * ax)
    }

    /// The part from `a` to `b` along the long side (`0..1`), grown by
    /// `margin` pixels on every side.
    pub fn part(&self, a: f32, b: f32, margin: f32) -> Quad {
        let (a, b) = (a.clamp(0.0, 1.0), b.clamp(0.0, 1.0));
        let mid = (a + b) - 1.0; // centre of a..b in -1..1
        let center = self.at(mid, 0.0);
        Quad {
            center,
            axis: self.axis,
            half: ((b - a) * self.half.0 + margin, self.half.1 + margin),
        }
    }

    pub fn bounds(&self) -> Rect {
        let corners =
            [self.at(-1.0, -1.0), self.at(1.0, -1.0), self.at(1.0, 1.0), self.at(-1.0, 1.0)];
        let mut r = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for (x, y) in corners {
            r = [r[0].min(x), r[1].min(y), r[2].max(x), r[3].max(y)];
        }
        r
    }

    fn contains(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (x - self.center.0, y - self.center.1);
        let u = dx * self.axis.0 + dy * self.axis.1;
        let v = -dx * self.axis.1 + dy * self.axis.0;
        u.abs() <= self.half.0 && v.abs() <= self.half.1
    }
}

/// Pixel ranges of `rect` clipped to the image.
fn clip(image: &RgbaImage, rect: Rect) -> Option<(u32, u32, u32, u32)> {
    let (w, h) = image.dimensions();
    let x0 = rect[0].floor().max(0.0) as u32;
    let y0 = rect[1].floor().max(0.0) as u32;
    let x1 = (rect[2].ceil().max(0.0) as u32).min(w);
    let y1 = (rect[3].ceil().max(0.0) as u32).min(h);
    (x0 < x1 && y0 < y1).then_some((x0, y0, x1, y1))
}

/// Paints every pixel whose centre lies in `quad`.
pub fn fill_quad(image: &mut RgbaImage, quad: &Quad, colour: Rgba<u8>) {
    let Some((x0, y0, x1, y1)) = clip(image, quad.bounds()) else { return };
    for y in y0..y1 {
        for x in x0..x1 {
            if quad.contains(x as f32 + 0.5, y as f32 + 0.5) {
                image.put_pixel(x, y, colour);
            }
        }
    }
}

/// Hides the contents of `rect` as `mode` says.
pub fn hide(image: &mut RgbaImage, rect: Rect, mode: Blur) {
    let Some((x0, y0, x1, y1)) = clip(image, rect) else { return };
    let side = (x1 - x0).max(y1 - y0);
    match mode {
        Blur::Fill => {
            for y in y0..y1 {
                for x in x0..x1 {
                    image.put_pixel(x, y, FILL);
                }
            }
        }
        Blur::Pixelate => blocks(image, (x0, y0, x1, y1), (side / 6).max(4)),
        Blur::Gaussian => {
            blocks(image, (x0, y0, x1, y1), (side / 8).max(3));
            let radius = (side / 6).max(2);
            for _ in 0..3 {
                box_blur(image, (x0, y0, x1, y1), radius);
            }
        }
    }
}

/// Replaces each `block`-sized square by its mean colour.
fn blocks(image: &mut RgbaImage, (x0, y0, x1, y1): (u32, u32, u32, u32), block: u32) {
    let mut by = y0;
    while by < y1 {
        let ey = (by + block).min(y1);
        let mut bx = x0;
        while bx < x1 {
            let ex = (bx + block).min(x1);
            let mut sum = [0_u64; 4];
            for y in by..ey {
                for x in bx..ex {
                    for (s, c) in sum.iter_mut().zip(image.get_pixel(x, y).0) {
                        *s += u64::from(c);
                    }
                }
            }
            let n = u64::from((ex - bx) * (ey - by));
            let mean = Rgba(sum.map(|s| (s / n) as u8));
            for y in by..ey {
                for x in bx..ex {
                    image.put_pixel(x, y, mean);
                }
            }
            bx = ex;
        }
        by = ey;
    }
}

/// One horizontal and one vertical running-mean pass inside the box (three
/// of them approximate a gaussian).
fn box_blur(image: &mut RgbaImage, (x0, y0, x1, y1): (u32, u32, u32, u32), radius: u32) {
    let mut line: Vec<[u32; 4]> = Vec::new();
    let mut pass =
        |image: &mut RgbaImage, len: u32, count: u32, at: &dyn Fn(u32, u32) -> (u32, u32)| {
            for j in 0..count {
                line.clear();
                line.extend((0..len).map(|i| {
                    let (x, y) = at(i, j);
                    image.get_pixel(x, y).0.map(u32::from)
                }));
                let r = radius.min(len.saturating_sub(1)) as usize;
                for i in 0..len as usize {
                    let (lo, hi) = (i.saturating_sub(r), (i + r).min(len as usize - 1));
                    let mut sum = [0_u32; 4];
                    for p in &line[lo..=hi] {
                        for k in 0..4 {
                            sum[k] += p[k];
                        }
                    }
                    let n = (hi - lo + 1) as u32;
                    let (x, y) = at(i as u32, j);
                    image.put_pixel(x, y, Rgba(sum.map(|s| (s / n) as u8)));
                }
            }
        };
    pass(image, x1 - x0, y1 - y0, &|i, j| (x0 + i, y0 + j));
    pass(image, y1 - y0, x1 - x0, &|i, j| (x0 + j, y0 + i));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32) -> RgbaImage {
        let mut state = 12345_u32;
        RgbaImage::from_fn(w, h, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (state >> 16) as u8;
            Rgba([v, v.wrapping_mul(3), v.wrapping_add(70), 255])
        })
    }

    /// Mean absolute difference between horizontal neighbours: fine detail.
    fn detail(image: &RgbaImage, rect: (u32, u32, u32, u32)) -> f64 {
        let (x0, y0, x1, y1) = rect;
        let mut sum = 0.0;
        let mut n = 0.0;
        for y in y0..y1 {
            for x in x0..x1 - 1 {
                let (a, b) = (image.get_pixel(x, y).0[0], image.get_pixel(x + 1, y).0[0]);
                sum += f64::from(a.abs_diff(b));
                n += 1.0;
            }
        }
        sum / n
    }

    #[test]
    fn every_mode_removes_the_detail_of_the_box_and_only_of_it() {
        for mode in [Blur::Gaussian, Blur::Pixelate, Blur::Fill] {
            let original = noise(200, 120);
            let mut image = original.clone();
            hide(&mut image, [40.0, 20.0, 140.0, 100.0], mode);
            let inside = (40, 20, 140, 100);
            assert!(detail(&original, inside) > 40.0);
            assert!(detail(&image, inside) < 8.0, "{mode:?}: {}", detail(&image, inside));
            for (x, y) in [(10, 10), (180, 110), (39, 50), (140, 50)] {
                assert_eq!(image.get_pixel(x, y), original.get_pixel(x, y), "{mode:?} at {x},{y}");
            }
        }
    }

    #[test]
    fn a_rotated_part_is_filled_and_nothing_beyond() {
        let mut image = RgbaImage::from_pixel(100, 100, Rgba([255, 255, 255, 255]));
        let (c, s) = (30_f32.to_radians().cos(), 30_f32.to_radians().sin());
        let line = Quad { center: (50.0, 50.0), axis: (c, s), half: (40.0, 6.0) };
        // The second half of the line.
        fill_quad(&mut image, &line.part(0.5, 1.0, 0.0), FILL);
        let (ex, ey) = line.at(0.75, 0.0);
        assert_eq!(*image.get_pixel(ex as u32, ey as u32), FILL);
        let (sx, sy) = line.at(-0.75, 0.0);
        assert_eq!(*image.get_pixel(sx as u32, sy as u32), Rgba([255, 255, 255, 255]));
        let (ox, oy) = line.at(0.75, 2.5);
        assert_eq!(*image.get_pixel(ox as u32, oy as u32), Rgba([255, 255, 255, 255]));
    }
}
