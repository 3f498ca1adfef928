//! A model's inference as a trace of our kernels that another WebGPU implementation replays: `digits serve`
//! sends it to the browser, whose WebGPU then runs the same WGSL files with the same parameters the Rust
//! runtime would dispatch for one image on a device with WebGPU's default limits.

use std::path::Path;

use digits_tensor::{Gpu, Trace, TraceStep};

use crate::{NnError, Result, Sequential};

/// One image's prediction, traced ([`Gpu::for_tracing`]): steps `..setup` load the weights and run a first
/// prediction (which allocates the workspace), and run once; steps `setup..` predict one image, and run
/// per image with step `input`'s data replaced by the image's pixels.
#[derive(Clone, Debug)]
pub struct WebPlan {
    /// Buffers and steps.
    pub trace: Trace,
    /// Steps before this index run once.
    pub setup: usize,
    /// The write of the image (u8 pixels, row-major, packed four to a word) into the input buffer.
    pub input: usize,
    /// The read of the class probabilities (f32, `classes` of them).
    pub output: usize,
    /// Classes the model predicts.
    pub classes: usize,
}

impl WebPlan {
    /// Traces the prediction of one image by the model in `bytes` (a model file's contents; `origin` names
    /// it in errors).
    pub fn record(bytes: &[u8], origin: &Path) -> Result<Self> {
        let gpu = Gpu::for_tracing()?;
        gpu.start_trace();
        let mut model = Sequential::from_bytes(&gpu, bytes, origin)?;
        let [channels, rows, cols] = model.spec().input;
        let classes = model.spec().classes;
        // A pattern no other upload repeats, so the image's write can be found by its bytes.
        let marker: Vec<u8> = (0..channels * rows * cols)
            .map(|i| (i * 37 % 251 + 1) as u8)
            .collect();
        model.predict(&marker)?;
        let setup = gpu.trace_len().expect("the trace was started");
        model.predict(&marker)?;
        let trace = gpu.finish_trace()?;

        let mut padded = marker;
        padded.resize(padded.len().next_multiple_of(4), 0);
        let run = &trace.steps[setup..];
        let input = only_one(
            run,
            "the image's write",
            |step| matches!(step, TraceStep::Write { data, .. } if *data == padded),
        )?;
        let output = only_one(
            run,
            "the probabilities' read",
            |step| matches!(step, TraceStep::Read { from } if from.size == 4 * classes as u64),
        )?;
        Ok(WebPlan {
            trace,
            setup,
            input: setup + input,
            output: setup + output,
            classes,
        })
    }
}

/// The index of the one step that `is` picks.
fn only_one(steps: &[TraceStep], what: &str, is: impl Fn(&TraceStep) -> bool) -> Result<usize> {
    let found: Vec<usize> = (0..steps.len()).filter(|&i| is(&steps[i])).collect();
    match found[..] {
        [one] => Ok(one),
        _ => Err(NnError::Data(format!(
            "the traced prediction has {} candidates for {what}, not one",
            found.len()
        ))),
    }
}
