//! Pictures of training and evaluation: the training curves (history.png), the confusion matrix
//! (confusion.png) and a grid of misclassified digits (misclassified.png).
//!
//! Plots are drawn with plotters and labelled with DejaVu Sans, embedded in the binary (see
//! `assets/LICENSE-DejaVu.txt`), so they look the same on every machine and need no system font.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use digits_nn::EpochStats;
use image::{Rgb, RgbImage};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use super::glyphs::{GLYPH_HEIGHT, draw_text, text_width};

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The family name plots ask for; the embedded font is registered under it.
const FAMILY: &str = "sans-serif";

const TRAIN_COLOUR: RGBColor = RGBColor(31, 119, 180);
const VAL_COLOUR: RGBColor = RGBColor(255, 127, 14);

/// Registers the embedded font with plotters, once per process.
fn ensure_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ok.then_some(())
        .ok_or_else(|| anyhow!("the embedded plot font failed to load"))
}

/// Draws accuracy (left) and loss (right) per epoch for training and, when present, validation: the two
/// plots of the Keras tutorial, side by side. Writes a PNG.
pub fn history_png(path: &Path, history: &[EpochStats]) -> anyhow::Result<()> {
    ensure_font()?;
    render_png(path, (1200, 450), |root| {
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(600);
        let series = |f: fn(&EpochStats) -> Option<f32>| -> Vec<(f64, f64)> {
            history
                .iter()
                .filter_map(|s| f(s).map(|v| (s.epoch as f64, f64::from(v))))
                .collect()
        };
        draw_curves(
            &left,
            "Accuracy",
            "accuracy",
            &series(|s| Some(s.accuracy)),
            &series(|s| s.val_accuracy),
            history.len(),
        )?;
        draw_curves(
            &right,
            "Loss",
            "loss",
            &series(|s| Some(s.loss)),
            &series(|s| s.val_loss),
            history.len(),
        )?;
        Ok(())
    })
}

/// One panel: a training and a validation curve against the epoch.
fn draw_curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    train: &[(f64, f64)],
    validation: &[(f64, f64)],
    epochs: usize,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let values = train
        .iter()
        .chain(validation)
        .map(|&(_, v)| v)
        .filter(|v| v.is_finite());
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (low, high) = if low.is_finite() {
        (low, high)
    } else {
        (0.0, 1.0)
    };
    let pad = ((high - low) * 0.08).max(1e-3);
    // One epoch still gets a visible x range around its single point.
    let x_max = epochs.max(2) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(1.0..x_max, (low - pad)..(high + pad))
        .map_err(|e| anyhow!("cannot draw the {title} plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .x_labels(epochs.clamp(2, 15))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .draw()
        .map_err(|e| anyhow!("cannot draw the {title} plot: {e}"))?;
    for (points, colour, name) in [
        (train, TRAIN_COLOUR, "training"),
        (validation, VAL_COLOUR, "validation"),
    ] {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| anyhow!("cannot draw the {title} plot: {e}"))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
            .map_err(|e| anyhow!("cannot draw the {title} plot: {e}"))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FAMILY, 14))
        .position(if y_label == "loss" {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .draw()
        .map_err(|e| anyhow!("cannot draw the {title} plot: {e}"))?;
    Ok(())
}

/// Draws the confusion matrix (`matrix[true][predicted]` counts) as a heat map with the counts written
/// in the cells; colour is the share of the true class, so rare classes show their errors as clearly as
/// common ones.
pub fn confusion_png(path: &Path, matrix: &[Vec<usize>]) -> anyhow::Result<()> {
    ensure_font()?;
    let classes = matrix.len();
    const CELL: i32 = 48;
    const LEFT: i32 = 90;
    const TOP: i32 = 80;
    let side = CELL * classes as i32;
    let size = ((LEFT + side + 30) as u32, (TOP + side + 30) as u32);
    render_png(path, size, |root| {
        root.fill(&WHITE)?;
        let text = |size: i32| {
            TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
        };
        root.draw(&Text::new("predicted", (LEFT + side / 2, 24), text(18)))?;
        root.draw(&Text::new(
            "true",
            (20, TOP + side / 2),
            text(18).transform(FontTransform::Rotate270),
        ))?;
        for (t, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            let y = TOP + t as i32 * CELL;
            root.draw(&Text::new(
                t.to_string(),
                (LEFT - 18, y + CELL / 2),
                text(16),
            ))?;
            for (p, &count) in row.iter().enumerate() {
                let x = LEFT + p as i32 * CELL;
                if t == 0 {
                    root.draw(&Text::new(
                        p.to_string(),
                        (x + CELL / 2, TOP - 18),
                        text(16),
                    ))?;
                }
                let share = count as f64 / total;
                // Correct answers in blue, errors in red; deeper for a larger share of the row.
                let shade =
                    |full: u8| (255.0 - (255.0 - f64::from(full)) * share.sqrt()).round() as u8;
                let fill = if t == p {
                    RGBColor(shade(31), shade(119), shade(180))
                } else {
                    RGBColor(shade(214), shade(39), shade(40))
                };
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    RGBColor(200, 200, 200),
                ))?;
                if count > 0 {
                    let colour = if share > 0.5 { WHITE } else { BLACK };
                    let font = text(if count >= 1000 { 13 } else { 15 }).color(&colour);
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + CELL / 2, y + CELL / 2),
                        font,
                    ))?;
                }
            }
        }
        Ok(())
    })
}

/// One misclassified image: its pixels (rows × cols, light ink on dark), true and predicted class.
pub struct Mistake<'a> {
    /// The image as stored in the dataset.
    pub pixels: &'a [u8],
    /// The dataset's label.
    pub label: usize,
    /// The model's answer.
    pub predicted: usize,
}

/// Each image pixel becomes a square of this many pixels in the grid.
const IMAGE_SCALE: u32 = 3;
/// Size of a font pixel for the labels.
const LABEL_SCALE: u32 = 2;
const PADDING: u32 = 10;
const LABEL_GAP: u32 = 4;

/// Draws misclassified images in a grid of `columns`, each labelled `7 -> 2` (true, then predicted), the
/// wrong answer in red. Writes a PNG (or any format the extension names).
pub fn mistakes_png(
    path: &Path,
    mistakes: &[Mistake<'_>],
    rows: usize,
    cols: usize,
    columns: usize,
) -> anyhow::Result<()> {
    let columns = columns.clamp(1, mistakes.len().max(1)) as u32;
    let grid_rows = mistakes.len().div_ceil(columns as usize).max(1) as u32;
    let (image_w, image_h) = (cols as u32 * IMAGE_SCALE, rows as u32 * IMAGE_SCALE);
    let label_w = text_width("0 -> 0", LABEL_SCALE);
    let cell_w = image_w.max(label_w);
    let cell_h = image_h + LABEL_GAP + GLYPH_HEIGHT * LABEL_SCALE;
    let width = columns * (cell_w + PADDING) + PADDING;
    let height = grid_rows * (cell_h + PADDING) + PADDING;
    let mut picture = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    for (index, mistake) in mistakes.iter().enumerate() {
        let (col, row) = (index as u32 % columns, index as u32 / columns);
        let left = PADDING + col * (cell_w + PADDING) + (cell_w - image_w) / 2;
        let top = PADDING + row * (cell_h + PADDING);
        for (i, &value) in mistake.pixels.iter().enumerate() {
            let (x, y) = ((i % cols) as u32, (i / cols) as u32);
            for dy in 0..IMAGE_SCALE {
                for dx in 0..IMAGE_SCALE {
                    picture.put_pixel(
                        left + x * IMAGE_SCALE + dx,
                        top + y * IMAGE_SCALE + dy,
                        Rgb([value; 3]),
                    );
                }
            }
        }
        let label_left = PADDING + col * (cell_w + PADDING) + (cell_w - label_w) / 2;
        let label_top = top + image_h + LABEL_GAP;
        let truth = format!("{} ->", mistake.label);
        draw_text(
            &mut picture,
            label_left,
            label_top,
            &truth,
            LABEL_SCALE,
            Rgb([0, 0, 0]),
        );
        let answer_left = label_left + text_width(&format!("{truth} "), LABEL_SCALE) + LABEL_SCALE;
        let answer = mistake.predicted.to_string();
        draw_text(
            &mut picture,
            answer_left,
            label_top,
            &answer,
            LABEL_SCALE,
            Rgb([200, 30, 30]),
        );
    }
    save_png(path, &picture)
}

/// Draws with plotters into memory, then writes the PNG with [`save_png`].
fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        draw(&root)?;
        root.present()?;
    }
    let picture = RgbImage::from_raw(width, height, buffer).expect("sized for the picture");
    save_png(path, &picture)
}

/// Writes a PNG through a temporary file renamed over `path`, so a crash never leaves half a picture.
pub fn save_png<P>(
    path: &Path,
    picture: &image::ImageBuffer<P, Vec<P::Subpixel>>,
) -> anyhow::Result<()>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
{
    let write = || -> anyhow::Result<()> {
        let mut file = digits_idx::atomic::temp_file_for(path)?;
        let mut writer = std::io::BufWriter::new(file.as_file_mut());
        picture.write_to(&mut writer, image::ImageFormat::Png)?;
        writer.flush()?;
        drop(writer);
        file.persist(path)?;
        Ok(())
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(epoch: usize, loss: f32, accuracy: f32) -> EpochStats {
        EpochStats {
            epoch,
            loss,
            accuracy,
            val_loss: Some(loss * 1.1),
            val_accuracy: Some(accuracy - 0.01),
            seconds: 1.0,
            samples_per_second: 1000.0,
            lr: 1e-3,
        }
    }

    /// Counts pixels in a region that are neither white nor grey (a curve's colour).
    fn coloured_pixels(image: &RgbImage, x_range: std::ops::Range<u32>) -> usize {
        image
            .enumerate_pixels()
            .filter(|(x, _, p)| x_range.contains(x) && !(p.0[0] == p.0[1] && p.0[1] == p.0[2]))
            .count()
    }

    #[test]
    fn history_has_two_panels_with_curves() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.png");
        let history: Vec<_> = (1..=5)
            .map(|e| stats(e, 1.0 / e as f32, 1.0 - 0.1 / e as f32))
            .collect();
        history_png(&path, &history).expect("plot");
        let image = image::open(&path).expect("a PNG").to_rgb8();
        assert_eq!(image.dimensions(), (1200, 450));
        assert!(
            coloured_pixels(&image, 0..600) > 500,
            "accuracy panel has no curves"
        );
        assert!(
            coloured_pixels(&image, 600..1200) > 500,
            "loss panel has no curves"
        );
    }

    #[test]
    fn history_of_one_epoch_without_validation_draws() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.png");
        let mut only = stats(1, 0.3, 0.9);
        only.val_loss = None;
        only.val_accuracy = None;
        history_png(&path, &[only]).expect("plot");
        let image = image::open(&path).expect("a PNG").to_rgb8();
        assert!(
            coloured_pixels(&image, 0..1200) > 20,
            "the single points are missing"
        );
    }

    #[test]
    fn confusion_matrix_draws_every_cell() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("confusion.png");
        let matrix: Vec<Vec<usize>> = (0..10)
            .map(|t| (0..10).map(|p| if t == p { 90 } else { t + p }).collect())
            .collect();
        confusion_png(&path, &matrix).expect("plot");
        let image = image::open(&path).expect("a PNG").to_rgb8();
        // The diagonal cell (3, 3) is deep blue, the cell (3, 4) light red.
        let centre = |t: u32, p: u32| *image.get_pixel(90 + p * 48 + 6, 80 + t * 48 + 6);
        let diagonal = centre(3, 3);
        assert!(diagonal.0[2] > diagonal.0[0] + 60, "{diagonal:?}");
        let error = centre(3, 4);
        assert!(error.0[0] > error.0[2] && error.0[0] > 200, "{error:?}");
    }

    #[test]
    fn mistakes_grid_shows_each_image() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("misclassified.png");
        let pixels = vec![255u8; 28 * 28];
        let mistakes: Vec<_> = (0..5)
            .map(|i| Mistake {
                pixels: &pixels,
                label: i,
                predicted: 9 - i,
            })
            .collect();
        mistakes_png(&path, &mistakes, 28, 28, 3).expect("grid");
        let image = image::open(&path).expect("a PNG").to_rgb8();
        let cell_h = 28 * IMAGE_SCALE + LABEL_GAP + GLYPH_HEIGHT * LABEL_SCALE;
        assert_eq!(image.height(), 2 * (cell_h + PADDING) + PADDING);
        // Red label pixels exist (the predicted classes).
        assert!(image.pixels().any(|p| p.0 == [200, 30, 30]));
    }
}
