//! The model's traced prediction ([`WebPlan`]) in the form `web/webgpu.js` replays: the steps as JSON, and
//! every byte they write (weights, uniform parameters) in one binary blob the steps point into.

use std::collections::BTreeSet;
use std::path::Path;

use axum::body::Bytes;
use digits_nn::WebPlan;
use digits_tensor::{TraceRange, TraceStep};
use serde_json::{Value, json};

/// What the page fetches, once: the plan as JSON, and the blob its `data` and `params` offsets point into.
pub struct WebGpuPlan {
    pub json: Bytes,
    pub blob: Bytes,
}

impl WebGpuPlan {
    /// Traces the model in `bytes` (`origin` names it in errors).
    pub fn record(bytes: &[u8], origin: &Path, model: &str) -> anyhow::Result<Self> {
        let plan = WebPlan::record(bytes, origin)?;
        let mut blob = Vec::new();
        let mut kernels = BTreeSet::new();
        let steps: Vec<Value> = plan
            .trace
            .steps
            .iter()
            .map(|step| match step {
                TraceStep::Write { to, data } => {
                    json!({ "op": "write", "to": range(to), "data": append(&mut blob, data) })
                }
                TraceStep::Clear { range: r } => json!({ "op": "clear", "range": range(r) }),
                TraceStep::Copy { from, to } => {
                    json!({ "op": "copy", "from": range(from), "to": range(to) })
                }
                TraceStep::Dispatch {
                    kernel,
                    entry,
                    constants,
                    params,
                    bindings,
                    workgroups,
                } => {
                    kernels.insert(*kernel);
                    let constants: serde_json::Map<String, Value> = constants
                        .iter()
                        .map(|(name, value)| (name.to_string(), json!(value)))
                        .collect();
                    json!({
                        "op": "dispatch",
                        "kernel": kernel,
                        "entry": entry,
                        "constants": constants,
                        "params": [append(&mut blob, params), params.len()],
                        "bindings": bindings.iter().map(range).collect::<Vec<_>>(),
                        "workgroups": workgroups,
                    })
                }
                TraceStep::Read { from } => json!({ "op": "read", "from": range(from) }),
            })
            .collect();
        let json = json!({
            "model": model,
            "classes": plan.classes,
            "kernels": kernels,
            "buffers": plan.trace.buffers,
            "setup": plan.setup,
            "input": plan.input,
            "output": plan.output,
            "steps": steps,
        });
        Ok(WebGpuPlan {
            json: json.to_string().into(),
            blob: blob.into(),
        })
    }
}

fn range(r: &TraceRange) -> [u64; 3] {
    [r.buffer as u64, r.offset, r.size]
}

/// Appends `data` at a word boundary and returns its offset.
fn append(blob: &mut Vec<u8>, data: &[u8]) -> usize {
    blob.resize(blob.len().next_multiple_of(4), 0);
    let offset = blob.len();
    blob.extend_from_slice(data);
    offset
}
