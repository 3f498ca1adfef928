//! `digits show`: a picture of the first samples of a split with their labels.

use std::path::PathBuf;

use anyhow::Context;
use digits_idx::{LabelledImages, Split};
use image::{Rgb, RgbImage};

use super::data::{DataArgs, SplitArg};
use super::glyphs::{GLYPH_HEIGHT, draw_text, text_width};

/// Draw the first images of a split in a grid, each with its label underneath.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,

    /// Which split to show.
    #[arg(long, value_enum, default_value_t = SplitArg::Train)]
    split: SplitArg,

    /// How many images to show, from the first (fewer if the split is smaller).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    count: u32,

    /// Output picture; the format follows the extension (.png, .jpg).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Each image pixel becomes a square of this many pixels.
const IMAGE_SCALE: u32 = 3;
/// Size of a font pixel for the labels.
const LABEL_SCALE: u32 = 3;
/// Space around and between cells.
const PADDING: u32 = 8;
/// Space between an image and its label.
const LABEL_GAP: u32 = 5;

/// Draws the grid and writes it to `--out`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let split = Split::from(args.split);
    let (_, samples) = args.data.load_split(split)?;
    let count = samples.len().min(args.count as usize);
    let grid =
        draw_grid(&samples, count).context("the images are too large to draw in one picture")?;
    super::plot::save_png(&args.out, &grid)?;
    println!(
        "wrote {count} {} images ({}x{} pixels) to {}",
        split.name(),
        grid.width(),
        grid.height(),
        args.out.display()
    );
    Ok(())
}

/// Lays out the first `count` images in a near-square grid (columns = ceil(sqrt(count))), white
/// background, images as stored (light ink on dark), labels in black below each image.
/// `None` if the picture would be too large for `u32` coordinates.
fn draw_grid(samples: &LabelledImages, count: usize) -> Option<RgbImage> {
    let cols = u32::try_from(count.max(1).isqrt()).ok()?;
    let cols = if (cols as usize) * (cols as usize) < count {
        cols + 1
    } else {
        cols
    };
    let rows = u32::try_from(count.div_ceil(cols as usize)).ok()?.max(1);
    let image_w = u32::try_from(samples.cols())
        .ok()?
        .checked_mul(IMAGE_SCALE)?;
    let image_h = u32::try_from(samples.rows())
        .ok()?
        .checked_mul(IMAGE_SCALE)?;
    let cell_w = image_w;
    let cell_h = image_h + LABEL_GAP + GLYPH_HEIGHT * LABEL_SCALE;
    let width = cols
        .checked_mul(cell_w.checked_add(PADDING)?)?
        .checked_add(PADDING)?;
    let height = rows
        .checked_mul(cell_h.checked_add(PADDING)?)?
        .checked_add(PADDING)?;
    let mut grid = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    for index in 0..count {
        let (image, &label) = (samples.image(index)?, samples.labels().get(index)?);
        let (col, row) = (index as u32 % cols, index as u32 / cols);
        let left = PADDING + col * (cell_w + PADDING);
        let top = PADDING + row * (cell_h + PADDING);
        for (i, &value) in image.iter().enumerate() {
            let (x, y) = ((i % samples.cols()) as u32, (i / samples.cols()) as u32);
            for dy in 0..IMAGE_SCALE {
                for dx in 0..IMAGE_SCALE {
                    let pixel = Rgb([value; 3]);
                    grid.put_pixel(
                        left + x * IMAGE_SCALE + dx,
                        top + y * IMAGE_SCALE + dy,
                        pixel,
                    );
                }
            }
        }
        let text = label.to_string();
        let text_left = left + cell_w.saturating_sub(text_width(&text, LABEL_SCALE)) / 2;
        draw_text(
            &mut grid,
            text_left,
            top + image_h + LABEL_GAP,
            &text,
            LABEL_SCALE,
            Rgb([0, 0, 0]),
        );
    }
    Some(grid)
}
