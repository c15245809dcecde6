//! QR codes of share-link URLs, as SVG (for pages and the API) and PNG (for print and
//! chat). Medium error correction, a four-module quiet zone as the standard asks.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

use crate::{ApiError, ApiResult};

fn code(text: &str) -> ApiResult<QrCode> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::invalid(format!("url: cannot be drawn as a QR code: {e}")))
}

/// An SVG drawing of `text`, or an empty string when it is too long for a QR code (URLs
/// built here are far below that).
pub fn svg(text: &str) -> String {
    code(text)
        .map(|c| {
            c.render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default()
}

/// A greyscale PNG of `text`, `scale` pixels per module.
pub fn png(text: &str, scale: usize) -> ApiResult<Vec<u8>> {
    let c = code(text)?;
    let width = c.width();
    let quiet = 4;
    let side = (width + 2 * quiet) * scale;
    let colors = c.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + quiet, i / width + quiet);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .map_err(|e| ApiError::internal("qr png", e))?;
    w.write_image_data(&pixels)
        .map_err(|e| ApiError::internal("qr png", e))?;
    w.finish().map_err(|e| ApiError::internal("qr png", e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_and_png_are_drawn() {
        let s = svg("http://127.0.0.1:8080/s/vts_abc");
        assert!(s.starts_with("<?xml") && s.contains("<svg"), "{s}");
        let p = png("http://127.0.0.1:8080/s/vts_abc", 4).unwrap();
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
    }
}
