//! A tiny built-in 5×7 bitmap font, so pictures get labels without any system font.
//!
//! Covers digits, letters (lower case drawn as upper case), space and `: / - > . % = ( ) ?`; any
//! other character is drawn as `?`.

use image::{Rgb, RgbImage};

/// Height of a glyph in font pixels (multiply by the scale for image pixels).
pub const GLYPH_HEIGHT: u32 = 7;

const GLYPH_WIDTH: u32 = 5;

/// Horizontal distance between glyph origins, in font pixels (one column of spacing).
const ADVANCE: u32 = GLYPH_WIDTH + 1;

/// The rows of a glyph, top first; bit 4 is the leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [
            0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110,
        ],
        '1' => [
            0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        '2' => [
            0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111,
        ],
        '3' => [
            0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110,
        ],
        '4' => [
            0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010,
        ],
        '5' => [
            0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110,
        ],
        '6' => [
            0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110,
        ],
        '7' => [
            0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000,
        ],
        '8' => [
            0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110,
        ],
        '9' => [
            0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100,
        ],
        'A' => [
            0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
        'B' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110,
        ],
        'C' => [
            0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110,
        ],
        'D' => [
            0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100,
        ],
        'E' => [
            0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
        ],
        'F' => [
            0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000,
        ],
        'G' => [
            0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111,
        ],
        'H' => [
            0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
        'I' => [
            0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        'J' => [
            0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100,
        ],
        'K' => [
            0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001,
        ],
        'L' => [
            0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111,
        ],
        'M' => [
            0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001,
        ],
        'N' => [
            0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001,
        ],
        'O' => [
            0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'P' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000,
        ],
        'Q' => [
            0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101,
        ],
        'R' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001,
        ],
        'S' => [
            0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110,
        ],
        'T' => [
            0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100,
        ],
        'U' => [
            0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'V' => [
            0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100,
        ],
        'W' => [
            0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010,
        ],
        'X' => [
            0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001,
        ],
        'Y' => [
            0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100,
        ],
        'Z' => [
            0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111,
        ],
        ' ' => [0; 7],
        ':' => [
            0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000,
        ],
        '/' => [
            0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000,
        ],
        '-' => [
            0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000,
        ],
        '>' => [
            0b01000, 0b00100, 0b00010, 0b00001, 0b00010, 0b00100, 0b01000,
        ],
        '.' => [
            0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100,
        ],
        '%' => [
            0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011,
        ],
        '=' => [
            0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000,
        ],
        '(' => [
            0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010,
        ],
        ')' => [
            0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000,
        ],
        _ => [
            0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100,
        ], // '?'
    }
}

/// Width in image pixels of `text` drawn at `scale` (no spacing after the last glyph).
pub fn text_width(text: &str, scale: u32) -> u32 {
    let glyphs = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    (glyphs.saturating_mul(ADVANCE).saturating_sub(1)).saturating_mul(scale)
}

/// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale`×`scale` square
/// of `color`. Whatever falls outside the image is clipped.
pub fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32, color: Rgb<u8>) {
    let (width, height) = (u64::from(img.width()), u64::from(img.height()));
    let scale = u64::from(scale);
    let advance = u64::from(ADVANCE).saturating_mul(scale);
    for (index, c) in (0u64..).zip(text.chars()) {
        let left = u64::from(x).saturating_add(index.saturating_mul(advance));
        if left >= width {
            break; // every later glyph is further right
        }
        for (row, bits) in (0u64..).zip(glyph(c)) {
            for col in 0..u64::from(GLYPH_WIDTH) {
                if bits & (1 << (u64::from(GLYPH_WIDTH) - 1 - col)) == 0 {
                    continue;
                }
                // The font pixel's square, clipped to the image.
                let x0 = left.saturating_add(col.saturating_mul(scale));
                let y0 = u64::from(y).saturating_add(row.saturating_mul(scale));
                let (x1, y1) = (
                    x0.saturating_add(scale).min(width),
                    y0.saturating_add(scale).min(height),
                );
                for py in y0..y1 {
                    for px in x0..x1 {
                        // Both below the image size, itself a u32.
                        img.put_pixel(px as u32, py as u32, color);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_scaled_glyphs_and_clips() {
        let mut img = RgbImage::new(20, 10);
        let white = Rgb([255, 255, 255]);
        draw_text(&mut img, 0, 0, "1", 1, white);
        // '1' has its stem in the middle column on every row but the first and last.
        assert!((1..6).all(|row| img.get_pixel(2, row) == &white));
        assert_eq!(img.get_pixel(0, 0), &Rgb([0, 0, 0]));
        // Far outside, or partly outside: no panic.
        draw_text(&mut img, 15, 5, "88:/->", 3, white);
        draw_text(&mut img, u32::MAX, u32::MAX, "0", u32::MAX / 8, white);
    }

    #[test]
    fn width_counts_glyphs_without_trailing_space() {
        assert_eq!(text_width("", 2), 0);
        assert_eq!(text_width("7", 2), 10);
        assert_eq!(text_width("7/9", 1), 17);
        assert_eq!(text_width("true: 3", 2), 82);
    }
}
