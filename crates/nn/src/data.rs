//! Labelled images on the device, uploaded once as u8: batches are gathered on the device by index.

use digits_idx::LabelledImages;
use digits_tensor::Backend;

use crate::error::{NnError, Result};
use crate::spec::ModelSpec;

/// A set of u8 images and labels in device memory (a quarter of its f32 size), with the identity order
/// that evaluation gathers through.
pub struct DeviceDataset<B: Backend> {
    pub(crate) images: B::Buf<u8>,
    pub(crate) labels: B::Buf<u8>,
    /// `0, 1, …, len - 1`: evaluation reads the images in order through the same gather kernel.
    pub(crate) identity: B::Buf<u32>,
    rows: usize,
    cols: usize,
    num_classes: usize,
    host_labels: Vec<u8>,
}

impl<B: Backend> DeviceDataset<B> {
    /// Uploads a set's pixels and labels.
    pub fn upload(backend: &B, images: &LabelledImages) -> Result<Self> {
        Self::from_parts(
            backend,
            images.pixels(),
            images.labels().to_vec(),
            images.rows(),
            images.cols(),
            images.num_classes(),
        )
    }

    /// Uploads `labels.len()` images of `rows × cols` u8 pixels.
    pub(crate) fn from_parts(
        backend: &B,
        pixels: &[u8],
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
        num_classes: usize,
    ) -> Result<Self> {
        if pixels.len() != labels.len() * rows * cols {
            return Err(NnError::Data(format!(
                "{} bytes of pixels are not {} images of {rows}x{cols}",
                pixels.len(),
                labels.len()
            )));
        }
        let identity: Vec<u32> = (0..labels.len() as u32).collect();
        Ok(DeviceDataset {
            images: backend.upload(pixels)?,
            labels: backend.upload(&labels)?,
            identity: backend.upload(&identity)?,
            rows,
            cols,
            num_classes,
            host_labels: labels,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.host_labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.host_labels.is_empty()
    }

    /// Image height.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The labels, on the host (for confusion matrices and per-class reports).
    pub fn labels(&self) -> &[u8] {
        &self.host_labels
    }

    /// Checks that the images fit a model's input and their labels its classes.
    pub(crate) fn check_fits(&self, spec: &ModelSpec, what: &str) -> Result<()> {
        let [channels, height, width] = spec.input;
        if channels != 1 || (height, width) != (self.rows, self.cols) {
            return Err(NnError::Data(format!(
                "the {what} holds 1x{}x{} images but model `{}` takes {channels}x{height}x{width} inputs",
                self.rows, self.cols, spec.name
            )));
        }
        if self.num_classes > spec.classes {
            return Err(NnError::Data(format!(
                "the {what} has {} classes but model `{}` predicts {}",
                self.num_classes, spec.name, spec.classes
            )));
        }
        Ok(())
    }
}
