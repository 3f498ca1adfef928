//! Preparing a user's picture of a digit the way MNIST's digits were prepared, so a model trained on
//! MNIST reads it: grayscale, light ink on a black background, the ink's bounding box scaled so its longer
//! side is 20 pixels (aspect ratio kept), placed in 28×28 with its centre of mass at the centre.
//!
//! Without this a model that scores 99% on the test set misreads hand-drawn digits: photos and drawings
//! have dark ink on light paper, wide margins and the digit anywhere.

use anyhow::{Context, bail};
use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageReader, Luma};
use std::path::Path;

/// Side of the prepared image, as in MNIST.
pub const SIDE: usize = 28;

/// Side of the box the ink is scaled into, as in MNIST (the rest is margin for the centring shift).
const INK_BOX: u32 = 20;

/// The weakest ink contrast (brightest pixel minus the background level, out of 255) taken as a digit;
/// below it the picture is blank or nearly uniform and any answer would be noise.
const MIN_CONTRAST: f32 = 24.0;

/// A picture prepared for the model, with what the preparation decided (shown to the user).
#[derive(Clone, Debug)]
pub struct Prepared {
    /// `SIDE × SIDE` pixels, row-major, 0 = background, 255 = full ink.
    pub pixels: Vec<u8>,
    /// Whether the picture had a light background and was inverted.
    pub inverted: bool,
    /// The ink's bounding box in the original picture: x, y, width, height.
    pub ink_box: (u32, u32, u32, u32),
}

/// Reads a PNG or JPEG (the format is guessed from the content, not the extension) and prepares it.
pub fn prepare_file(path: &Path) -> anyhow::Result<Prepared> {
    // Opening a FIFO or a device would block or read forever: only regular files are pictures.
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!(
            "{} is not a regular file (a folder, pipe or device), so not a picture",
            path.display()
        );
    }
    let image = ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read {}", path.display()))?
        .decode()
        .with_context(|| {
            format!(
                "{} is not a PNG or JPEG picture this build can decode",
                path.display()
            )
        })?;
    prepare(&image).with_context(|| format!("cannot find a digit in {}", path.display()))
}

/// Largest picture side [`prepare_bytes`] decodes: a phone photo fits, a header claiming more is refused
/// before the pixels are allocated.
pub const MAX_PICTURE_SIDE: u32 = 8192;

/// Most memory [`prepare_bytes`] lets the decoder allocate.
const MAX_DECODE_BYTES: u64 = 256 << 20;

/// Decodes a PNG or JPEG held in memory (the format guessed from the content) and prepares it; a picture
/// whose header declares more than [`MAX_PICTURE_SIDE`] pixels a side is refused before decoding.
pub fn prepare_bytes(bytes: &[u8]) -> anyhow::Result<Prepared> {
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot read the picture")?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    if reader.format().is_none() {
        bail!("the body is not a PNG or JPEG picture");
    }
    let image = reader.decode().with_context(|| {
        format!("the picture cannot be decoded (corrupt, or over {MAX_PICTURE_SIDE} pixels a side)")
    })?;
    prepare(&image).context("cannot find a digit in the picture")
}

/// Prepares a decoded picture; see the module documentation for the steps.
pub fn prepare(image: &DynamicImage) -> anyhow::Result<Prepared> {
    let mut gray = flatten_to_gray(image);
    let (width, height) = gray.dimensions();
    if width == 0 || height == 0 {
        bail!("the picture is empty ({width}x{height})");
    }

    // MNIST has light ink on black. The border is mostly background, so a light border means dark ink.
    let border = border_stats(&gray);
    let inverted = border.mean > 127.5;
    if inverted {
        imageops::invert(&mut gray);
    }
    let background = if inverted {
        255.0 - border.mean
    } else {
        border.mean
    };

    // Levels: background noise (mean + 3 standard deviations of the border) becomes black and the typical
    // ink level white, as in MNIST, whose strokes are saturated: paper grain and JPEG noise do not turn into
    // faint ink after scaling, and a noisy bright speck does not make the real strokes grey.
    let brightest = f32::from(gray.pixels().map(|p| p.0[0]).max().unwrap_or(0));
    if brightest - background < MIN_CONTRAST {
        bail!(
            "the picture is nearly uniform (ink contrast {:.0} of 255); expected a dark digit on a light \
             background or a light digit on a dark one",
            brightest - background
        );
    }
    let floor = (background + 3.0 * border.std_dev).min((background + brightest) / 2.0);
    let ink_level = median_above(&gray, (floor + brightest) / 2.0).max(floor + MIN_CONTRAST / 2.0);
    let span = ink_level - floor;
    for pixel in gray.pixels_mut() {
        let level = ((f32::from(pixel.0[0]) - floor) / span * 255.0).clamp(0.0, 255.0);
        pixel.0[0] = level.round() as u8;
    }

    // Crop to the ink: pixels at least half way to full ink.
    let (x0, y0, ink_w, ink_h) = ink_bounds(&gray, 128).context("no ink found")?;
    let ink = imageops::crop_imm(&gray, x0, y0, ink_w, ink_h).to_image();

    // The longer side becomes 20 pixels, the shorter in proportion (at least 1). Triangle filtering widens
    // its kernel with the scale factor, so a large picture is averaged (area-like), not point-sampled.
    let longer = ink_w.max(ink_h);
    let scaled_w = scaled_side(ink_w, longer);
    let scaled_h = scaled_side(ink_h, longer);
    let scaled = imageops::resize(&ink, scaled_w, scaled_h, FilterType::Triangle);

    // Place it so its centre of mass lands on the centre of the 28×28 field (pixel centres at i + 0.5,
    // so the field's centre is (14, 14)).
    let (com_x, com_y) =
        centre_of_mass(&scaled).context("the ink vanished when scaled to 20 pixels")?;
    let half = SIDE as f32 / 2.0;
    let left = (half - com_x).round() as i64;
    let top = (half - com_y).round() as i64;
    let mut pixels = vec![0u8; SIDE * SIDE];
    for (x, y, value) in scaled.enumerate_pixels() {
        let (tx, ty) = (left + i64::from(x), top + i64::from(y));
        // A lopsided digit can need a shift that pushes a sliver past the edge; that sliver is dropped.
        if (0..SIDE as i64).contains(&tx) && (0..SIDE as i64).contains(&ty) {
            pixels[ty as usize * SIDE + tx as usize] = value.0[0];
        }
    }
    Ok(Prepared {
        pixels,
        inverted,
        ink_box: (x0, y0, ink_w, ink_h),
    })
}

/// Grayscale, with any transparency composited over white: drawing apps save dark strokes on a
/// transparent background, whose colour channels are often black.
fn flatten_to_gray(image: &DynamicImage) -> GrayImage {
    if !image.color().has_alpha() {
        return image.to_luma8();
    }
    let rgba = image.to_luma_alpha8();
    GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [value, alpha] = rgba.get_pixel(x, y).0;
        let (value, alpha) = (u32::from(value), u32::from(alpha));
        Luma([((value * alpha + 255 * (255 - alpha) + 127) / 255) as u8])
    })
}

struct BorderStats {
    mean: f32,
    std_dev: f32,
}

/// Mean and standard deviation of the outermost ring of pixels.
fn border_stats(gray: &GrayImage) -> BorderStats {
    let (w, h) = gray.dimensions();
    let on_border = |x: u32, y: u32| x == 0 || y == 0 || x + 1 == w || y + 1 == h;
    let (mut sum, mut sum_sq, mut count) = (0f64, 0f64, 0f64);
    for (x, y, p) in gray.enumerate_pixels() {
        if on_border(x, y) {
            let v = f64::from(p.0[0]);
            sum += v;
            sum_sq += v * v;
            count += 1.0;
        }
    }
    let mean = sum / count;
    let variance = (sum_sq / count - mean * mean).max(0.0);
    BorderStats {
        mean: mean as f32,
        std_dev: variance.sqrt() as f32,
    }
}

/// The median of the pixels brighter than `threshold` (there is at least one: the brightest pixel).
fn median_above(gray: &GrayImage, threshold: f32) -> f32 {
    let mut histogram = [0usize; 256];
    for p in gray.pixels().filter(|p| f32::from(p.0[0]) >= threshold) {
        histogram[usize::from(p.0[0])] += 1;
    }
    let half = histogram.iter().sum::<usize>().div_ceil(2);
    let mut seen = 0;
    for (value, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= half {
            return value as f32;
        }
    }
    255.0
}

/// The bounding box (x, y, width, height) of pixels at or above `threshold`, if any.
fn ink_bounds(gray: &GrayImage, threshold: u8) -> Option<(u32, u32, u32, u32)> {
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in gray.enumerate_pixels() {
        if p.0[0] >= threshold {
            let (x0, y0, x1, y1) = bounds.unwrap_or((x, y, x, y));
            bounds = Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y)));
        }
    }
    bounds.map(|(x0, y0, x1, y1)| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// `side` scaled by `INK_BOX / longer`, rounded, at least 1.
fn scaled_side(side: u32, longer: u32) -> u32 {
    ((f64::from(side) * f64::from(INK_BOX) / f64::from(longer)).round() as u32).clamp(1, INK_BOX)
}

/// The intensity-weighted mean position, with pixel centres at (x + 0.5, y + 0.5); `None` if all black.
fn centre_of_mass(gray: &GrayImage) -> Option<(f32, f32)> {
    let (mut mass, mut mx, mut my) = (0f64, 0f64, 0f64);
    for (x, y, p) in gray.enumerate_pixels() {
        let v = f64::from(p.0[0]);
        mass += v;
        mx += v * (f64::from(x) + 0.5);
        my += v * (f64::from(y) + 0.5);
    }
    (mass > 0.0).then(|| ((mx / mass) as f32, (my / mass) as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filled axis-aligned rectangle of `ink` on `background`.
    fn rectangle(w: u32, h: u32, rect: (u32, u32, u32, u32), background: u8, ink: u8) -> GrayImage {
        let (rx, ry, rw, rh) = rect;
        GrayImage::from_fn(w, h, |x, y| {
            let inside = (rx..rx + rw).contains(&x) && (ry..ry + rh).contains(&y);
            Luma([if inside { ink } else { background }])
        })
    }

    fn com_of(pixels: &[u8]) -> (f32, f32) {
        let image = GrayImage::from_raw(SIDE as u32, SIDE as u32, pixels.to_vec()).expect("28x28");
        centre_of_mass(&image).expect("some ink")
    }

    /// Bounding box of non-zero pixels in the prepared image.
    fn prepared_box(pixels: &[u8]) -> (u32, u32, u32, u32) {
        let image = GrayImage::from_raw(SIDE as u32, SIDE as u32, pixels.to_vec()).expect("28x28");
        ink_bounds(&image, 1).expect("some ink")
    }

    #[test]
    fn off_centre_digit_gets_centred() {
        // An "L" shape in the top-left corner of a 200×150 dark picture.
        let mut picture = GrayImage::new(200, 150);
        for y in 10..70 {
            for x in 12..22 {
                picture.put_pixel(x, y, Luma([255]));
            }
        }
        for y in 60..70 {
            for x in 12..50 {
                picture.put_pixel(x, y, Luma([255]));
            }
        }
        let prepared = prepare(&DynamicImage::ImageLuma8(picture)).expect("prepared");
        assert!(!prepared.inverted);
        assert_eq!(prepared.ink_box, (12, 10, 38, 60));
        let (cx, cy) = com_of(&prepared.pixels);
        // An integer shift puts the centre of mass within half a pixel of the centre.
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "centre of mass at ({cx}, {cy})"
        );
        // The longer side (height, 60 px) became 20 px.
        let (_, _, _, h) = prepared_box(&prepared.pixels);
        assert!((20..=21).contains(&h), "height {h}");
    }

    #[test]
    fn light_background_gets_inverted() {
        let picture = rectangle(90, 90, (30, 20, 30, 50), 240, 20);
        let prepared = prepare(&DynamicImage::ImageLuma8(picture)).expect("prepared");
        assert!(prepared.inverted);
        // Corners are background, hence black; the stroke's middle is full ink.
        assert_eq!(prepared.pixels[0], 0);
        assert_eq!(prepared.pixels[SIDE * SIDE - 1], 0);
        assert_eq!(prepared.pixels[14 * SIDE + 14], 255);
    }

    #[test]
    fn dark_background_is_kept() {
        let picture = rectangle(60, 60, (10, 10, 20, 40), 5, 250);
        let prepared = prepare(&DynamicImage::ImageLuma8(picture)).expect("prepared");
        assert!(!prepared.inverted);
        assert_eq!(prepared.pixels[14 * SIDE + 14], 255);
    }

    #[test]
    fn aspect_ratio_is_kept() {
        // A 20×80 bar (1:4) becomes 5×20, a 120×40 bar (3:1) becomes 20×7 (6.67 rounded).
        for (rect, expected) in [((40, 10, 20, 80), (5, 20)), ((10, 50, 120, 40), (20, 7))] {
            let picture = rectangle(200, 200, rect, 0, 255);
            let prepared = prepare(&DynamicImage::ImageLuma8(picture)).expect("prepared");
            let (_, _, w, h) = prepared_box(&prepared.pixels);
            // Bilinear edges may add a faint pixel on one side.
            assert!(
                (expected.0..=expected.0 + 1).contains(&w)
                    && (expected.1..=expected.1 + 1).contains(&h),
                "{rect:?}: got {w}x{h}, expected about {expected:?}"
            );
        }
    }

    #[test]
    fn transparent_background_counts_as_white() {
        // Dark strokes on a fully transparent background whose colour channels are black.
        let picture = image::RgbaImage::from_fn(64, 64, |x, y| {
            if (20..30).contains(&x) && (10..50).contains(&y) {
                image::Rgba([0, 0, 0, 255])
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let prepared = prepare(&DynamicImage::ImageRgba8(picture)).expect("prepared");
        assert!(prepared.inverted);
        assert_eq!(prepared.ink_box, (20, 10, 10, 40));
    }

    #[test]
    fn noise_does_not_become_ink() {
        // A light background with ±20 noise (deterministic pattern) around a dark bar.
        let picture = GrayImage::from_fn(100, 100, |x, y| {
            let noise = ((x * 7919 + y * 104_729) % 41) as i32 - 20;
            let base = if (40..60).contains(&x) && (20..80).contains(&y) {
                30
            } else {
                220
            };
            Luma([(base + noise).clamp(0, 255) as u8])
        });
        let prepared = prepare(&DynamicImage::ImageLuma8(picture)).expect("prepared");
        assert_eq!(prepared.ink_box, (40, 20, 20, 60));
        assert_eq!(prepared.pixels[0], 0);
        assert_eq!(prepared.pixels[27 * SIDE + 27], 0);
    }

    #[test]
    fn noisy_strokes_come_out_saturated() {
        // Ink at 40 with ±30 noise on paper at 210: the stroke's core must be full ink, as in MNIST.
        let picture = GrayImage::from_fn(120, 120, |x, y| {
            let noise = ((x * 7919 + y * 104_729) % 61) as i32 - 30;
            let base = if (50..70).contains(&x) && (20..100).contains(&y) {
                40
            } else {
                210
            };
            Luma([(base + noise).clamp(0, 255) as u8])
        });
        let prepared = prepare(&DynamicImage::ImageLuma8(picture)).expect("prepared");
        let core = prepared.pixels[14 * SIDE + 14];
        assert!(core >= 240, "stroke core {core}");
    }

    #[test]
    fn blank_picture_is_an_error() {
        let picture = GrayImage::from_pixel(50, 50, Luma([200]));
        let error = prepare(&DynamicImage::ImageLuma8(picture)).expect_err("nothing to read");
        assert!(error.to_string().contains("nearly uniform"), "{error}");
    }
}
