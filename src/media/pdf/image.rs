//! Image XObjects to pixels, for OCR of scanned pages: JPEG (`DCTDecode`)
//! and sampled images (raw or Flate/LZW/… compressed) in gray, RGB, CMYK,
//! ICC-based and indexed colour, 1 or 8 bits per component. JPEG 2000,
//! CCITT fax and JBIG2 are not read.

use image::{Rgba, RgbaImage};
use lopdf::{Document, Object, Stream};

use crate::media::MediaError;
use crate::media::raster;

/// How the samples of an image map to colour.
enum Colour {
    /// Components per sample: 1 gray, 3 RGB, 4 CMYK.
    Direct(usize),
    /// One index per sample into RGB triples.
    Indexed(Vec<[u8; 3]>),
}

/// Decodes one image XObject; `None` if its encoding is not read here.
pub fn decode(
    doc: &Document,
    stream: &Stream,
    max_pixels: u64,
) -> Result<Option<RgbaImage>, MediaError> {
    let dict = &stream.dict;
    let dim = |k: &[u8]| dict.get(k).and_then(Object::as_i64).ok().filter(|v| *v > 0);
    let (Some(width), Some(height)) = (dim(b"Width"), dim(b"Height")) else { return Ok(None) };
    let pixels = (width as u64).saturating_mul(height as u64);
    if pixels > max_pixels {
        return Err(MediaError::TooLarge(format!(
            "an image of the PDF has {pixels} pixels, over the limit of {max_pixels}"
        )));
    }
    let filters: Vec<&[u8]> = stream.filters().unwrap_or_default();
    if filters.iter().any(|f| matches!(*f, b"JPXDecode" | b"CCITTFaxDecode" | b"JBIG2Decode")) {
        return Ok(None);
    }
    if filters.last() == Some(&&b"DCTDecode"[..]) {
        if filters.len() > 1 {
            return Ok(None);
        }
        return match raster::decode(&stream.content, max_pixels) {
            Ok(decoded) => Ok(Some(decoded.pixels)),
            Err(MediaError::TooLarge(m)) => Err(MediaError::TooLarge(m)),
            Err(_) => Ok(None),
        };
    }
    let mask = dict.get(b"ImageMask").and_then(Object::as_bool).unwrap_or(false);
    let bits =
        if mask { 1 } else { dict.get(b"BitsPerComponent").and_then(Object::as_i64).unwrap_or(8) };
    let colour = if mask {
        Some(Colour::Direct(1))
    } else {
        dict.get(b"ColorSpace").ok().and_then(|c| colour_space(doc, c))
    };
    let (Some(colour), 1 | 8) = (colour, bits) else { return Ok(None) };
    let (width, height) = (width as usize, height as usize);
    let per_sample = match &colour {
        Colour::Direct(n) => *n,
        Colour::Indexed(_) => 1,
    };
    let row = (width * per_sample * bits as usize).div_ceil(8);
    // PNG predictors add a byte per row before they are undone.
    let Ok(data) = stream.decompressed_content_with_limit((row + 1) * height + 1024) else {
        return Ok(None);
    };
    if data.len() < row * height {
        return Ok(None);
    }
    // `/Decode [1 0]` inverts (image masks paint where the bit is 0).
    let inverted = mask
        || dict
            .get(b"Decode")
            .and_then(Object::as_array)
            .is_ok_and(|d| d.first().and_then(|v| v.as_float().ok()) == Some(1.0));
    let sample = |y: usize, i: usize| -> u8 {
        let line = &data[y * row..(y + 1) * row];
        if bits == 8 {
            line[i]
        } else if line[i / 8] >> (7 - i % 8) & 1 == 1 {
            255
        } else {
            0
        }
    };
    let mut out = RgbaImage::new(width as u32, height as u32);
    for y in 0..height {
        for x in 0..width {
            let at = x * per_sample;
            let rgb = match &colour {
                Colour::Direct(1) => {
                    let g = sample(y, at);
                    let g = if inverted { 255 - g } else { g };
                    [g, g, g]
                }
                Colour::Direct(3) => [sample(y, at), sample(y, at + 1), sample(y, at + 2)],
                Colour::Direct(_) => {
                    let k = 255 - u16::from(sample(y, at + 3));
                    let c = |v: u8| ((255 - u16::from(v)) * k / 255) as u8;
                    [c(sample(y, at)), c(sample(y, at + 1)), c(sample(y, at + 2))]
                }
                Colour::Indexed(palette) => {
                    palette.get(sample(y, at) as usize).copied().unwrap_or([0, 0, 0])
                }
            };
            out.put_pixel(x as u32, y as u32, Rgba([rgb[0], rgb[1], rgb[2], 255]));
        }
    }
    Ok(Some(out))
}

fn colour_space(doc: &Document, c: &Object) -> Option<Colour> {
    let (_, c) = doc.dereference(c).ok()?;
    let name = match c {
        Object::Name(n) => n.as_slice(),
        Object::Array(a) => a.first()?.as_name().ok()?,
        _ => return None,
    };
    match name {
        b"DeviceGray" | b"CalGray" | b"G" => Some(Colour::Direct(1)),
        b"DeviceRGB" | b"CalRGB" | b"RGB" => Some(Colour::Direct(3)),
        b"DeviceCMYK" | b"CMYK" => Some(Colour::Direct(4)),
        b"ICCBased" => {
            let (_, profile) = doc.dereference(c.as_array().ok()?.get(1)?).ok()?;
            match profile.as_stream().ok()?.dict.get(b"N").and_then(Object::as_i64).ok()? {
                n @ (1 | 3 | 4) => Some(Colour::Direct(n as usize)),
                _ => None,
            }
        }
        b"Indexed" | b"I" => {
            let a = c.as_array().ok()?;
            let base = colour_space(doc, a.get(1)?)?;
            let (_, lookup) = doc.dereference(a.get(3)?).ok()?;
            let table = match lookup {
                Object::String(s, _) => s.clone(),
                Object::Stream(s) => s.decompressed_content_with_limit(256 * 4).ok()?,
                _ => return None,
            };
            let Colour::Direct(n) = base else { return None };
            let palette = table
                .chunks_exact(n)
                .map(|e| match n {
                    1 => [e[0], e[0], e[0]],
                    3 => [e[0], e[1], e[2]],
                    _ => {
                        let k = 255 - u16::from(e[3]);
                        let c = |v: u8| ((255 - u16::from(v)) * k / 255) as u8;
                        [c(e[0]), c(e[1]), c(e[2])]
                    }
                })
                .collect();
            Some(Colour::Indexed(palette))
        }
        _ => None,
    }
}
