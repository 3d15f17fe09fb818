//! Decoding and re-encoding images: PNG, JPEG, WebP and GIF (first frame).
//! The pixel count is checked from the header before any pixel is decoded
//! (a decompression bomb is refused, not allocated). Re-encoding writes
//! pixels only: EXIF (GPS, serials), XMP, text chunks and ICC profiles do
//! not survive it. The EXIF orientation is applied first, so the picture
//! still shows the right way up without it.

use std::io::Cursor;

use base64::Engine;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbaImage};

use super::MediaError;

/// The image formats Veil reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    WebP,
    Gif,
}

impl Format {
    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::WebP => "image/webp",
            Format::Gif => "image/gif",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::WebP => "webp",
            Format::Gif => "gif",
        }
    }

    fn of(format: ImageFormat) -> Option<Self> {
        match format {
            ImageFormat::Png => Some(Format::Png),
            ImageFormat::Jpeg => Some(Format::Jpeg),
            ImageFormat::WebP => Some(Format::WebP),
            ImageFormat::Gif => Some(Format::Gif),
            _ => None,
        }
    }

    /// The format of `bytes` by their first bytes, if Veil reads it.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        image::guess_format(bytes).ok().and_then(Self::of)
    }
}

/// A decoded image.
pub struct Decoded {
    pub pixels: RgbaImage,
    pub format: Format,
}

/// Decodes `bytes`; more than `max_pixels` pixels is [`MediaError::TooLarge`].
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, MediaError> {
    let format = Format::sniff(bytes)
        .ok_or_else(|| MediaError::Invalid("the image is not PNG, JPEG, WebP or GIF".into()))?;
    let reader = |bytes| {
        let mut reader = ImageReader::new(Cursor::new(bytes));
        reader.set_format(match format {
            Format::Png => ImageFormat::Png,
            Format::Jpeg => ImageFormat::Jpeg,
            Format::WebP => ImageFormat::WebP,
            Format::Gif => ImageFormat::Gif,
        });
        reader
    };
    let broken = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => MediaError::TooLarge(format!(
            "the image needs more memory to decode than this server allows ({max_pixels} pixels)"
        )),
        _ => MediaError::Invalid(format!("the {} image cannot be decoded", format.extension())),
    };
    let (width, height) = reader(bytes).into_dimensions().map_err(broken)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(MediaError::TooLarge(format!(
            "the image has {width}x{height} = {pixels} pixels; this server accepts at most {max_pixels}"
        )));
    }
    if pixels == 0 {
        return Err(MediaError::Invalid("the image has no pixels".into()));
    }
    let mut reader = reader(bytes);
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // RGBA at 16 bits per channel, plus the decoder's own buffers.
    limits.max_alloc = Some(pixels.saturating_mul(8).saturating_mul(2).max(1 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(broken)?;
    let orientation = decoder.orientation().map_err(broken)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(broken)?;
    image.apply_orientation(orientation);
    Ok(Decoded { pixels: image.into_rgba8(), format })
}

/// Encodes `pixels` as `format` (JPEG has no alpha: it is dropped; WebP is
/// written lossless).
pub fn encode(pixels: &RgbaImage, format: Format) -> Result<Vec<u8>, MediaError> {
    let mut out = Cursor::new(Vec::new());
    let failed = |e: image::ImageError| MediaError::Internal(format!("re-encoding failed: {e}"));
    match format {
        Format::Jpeg => {
            let rgb = DynamicImage::ImageRgba8(pixels.clone()).into_rgb8();
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
            rgb.write_with_encoder(encoder).map_err(failed)?;
        }
        Format::Png => pixels.write_to(&mut out, ImageFormat::Png).map_err(failed)?,
        Format::WebP => pixels.write_to(&mut out, ImageFormat::WebP).map_err(failed)?,
        Format::Gif => pixels.write_to(&mut out, ImageFormat::Gif).map_err(failed)?,
    }
    Ok(out.into_inner())
}

/// A `data:` URL's bytes and declared media type.
pub fn parse_data_url(url: &str) -> Result<(String, Vec<u8>), MediaError> {
    let rest = url
        .strip_prefix("data:")
        .ok_or_else(|| MediaError::Invalid("expected a data: URL".into()))?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| MediaError::Invalid("the data: URL has no `,`".into()))?;
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err(MediaError::Invalid("the data: URL is not base64-encoded".into()));
    };
    let bytes = decode_base64(data)?;
    Ok((mime.to_ascii_lowercase(), bytes))
}

/// Standard or URL-safe base64, padded or not, line breaks allowed.
pub fn decode_base64(data: &str) -> Result<Vec<u8>, MediaError> {
    use base64::alphabet::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let lenient =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let compact: Vec<u8> = data.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let alphabet =
        if compact.iter().any(|c| matches!(c, b'-' | b'_')) { &URL_SAFE } else { &STANDARD };
    GeneralPurpose::new(alphabet, lenient)
        .decode(&compact)
        .map_err(|_| MediaError::Invalid("the base64 data does not decode".into()))
}

/// `data:<mime>;base64,<bytes>`.
pub fn data_url(mime: &str, bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{mime};base64,{b64}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_pixel(width, height, image::Rgba([10, 20, 30, 255]));
        encode(&image, Format::Png).unwrap()
    }

    #[test]
    fn round_trips_every_format() {
        let image =
            RgbaImage::from_fn(40, 30, |x, y| image::Rgba([x as u8 * 6, y as u8 * 8, 90, 255]));
        for format in [Format::Png, Format::Jpeg, Format::WebP, Format::Gif] {
            let bytes = encode(&image, format).unwrap();
            let back = decode(&bytes, 10_000).unwrap();
            assert_eq!(back.format, format);
            assert_eq!(back.pixels.dimensions(), (40, 30));
        }
    }

    #[test]
    fn a_bomb_is_refused_from_its_header() {
        let bytes = png(5000, 5000);
        assert!(matches!(decode(&bytes, 1_000_000), Err(MediaError::TooLarge(_))));
        assert!(decode(&bytes, 25_000_000).is_ok());
    }

    #[test]
    fn undecodable_data_is_invalid() {
        assert!(matches!(decode(b"hello", 100), Err(MediaError::Invalid(_))));
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        assert!(matches!(decode(&truncated, 10_000), Err(MediaError::Invalid(_))));
    }

    #[test]
    fn data_urls_in_both_alphabets() {
        let url = data_url("image/png", &[0xfb, 0xff, 0x00]);
        assert_eq!(parse_data_url(&url).unwrap(), ("image/png".to_owned(), vec![0xfb, 0xff, 0x00]));
        let (_, bytes) = parse_data_url("data:image/png;base64,-_8A").unwrap();
        assert_eq!(bytes, vec![0xfb, 0xff, 0x00]);
        assert!(parse_data_url("data:image/png,raw").is_err());
        assert!(parse_data_url("data:image/png;base64,!!!").is_err());
    }
}
