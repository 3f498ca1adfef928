//! The trace `digits serve` sends to the browser, replayed here on a real device through wgpu's API alone
//! (what `web/webgpu.js` does with the browser's WebGPU): for every preset, one epoch trained on the sample,
//! the replayed probabilities must match the CPU backend's for test images, and a second image run through
//! the same plan must give its own answer (the plan's input really is the image).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use digits_idx::{Dataset, Split};
use digits_nn::{ModelSpec, Sequential, TrainConfig, Trainer, WebPlan};
use digits_tensor::{Cpu, Gpu, Trace, TraceStep};

/// Largest difference allowed between the replayed and the CPU backend's probabilities: the kernels'
/// conformance tolerance (f32 sums in another order, ~1e-6 relative) carried through the softmax.
const TOLERANCE: f32 = 1e-4;

fn sample() -> Dataset {
    Dataset::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mnist-sample"))
        .expect("the committed MNIST sample loads")
}

/// A replayer over a device, as small as the browser's: buffers by index, pipelines by kernel and entry.
struct Replayer<'a> {
    gpu: &'a Gpu,
    queue: &'a wgpu::Queue,
    buffers: Vec<wgpu::Buffer>,
    sources: HashMap<&'static str, &'static str>,
    pipelines: HashMap<String, wgpu::ComputePipeline>,
}

impl<'a> Replayer<'a> {
    fn new(gpu: &'a Gpu, queue: &'a wgpu::Queue, trace: &Trace) -> Self {
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::UNIFORM
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let buffers = trace
            .buffers
            .iter()
            .map(|&size| {
                gpu.device().create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size,
                    usage,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let sources = digits_tensor::family::kernels()
            .map(|k| (k.name, k.source))
            .collect();
        Replayer {
            gpu,
            queue,
            buffers,
            sources,
            pipelines: HashMap::new(),
        }
    }

    /// Runs `steps` in order, with `replace` standing in for one write's data; returns what the reads read.
    fn run(&mut self, steps: &[TraceStep], replace: Option<(usize, &[u8])>) -> Vec<Vec<u8>> {
        let device = self.gpu.device().clone();
        let mut encoder = device.create_command_encoder(&Default::default());
        let mut staged = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            match step {
                TraceStep::Write { to, data } => {
                    // A queue write lands before the next submit: submit what came before it first.
                    let done = std::mem::replace(
                        &mut encoder,
                        device.create_command_encoder(&Default::default()),
                    );
                    self.queue.submit([done.finish()]);
                    let data = match replace {
                        Some((at, bytes)) if at == i => bytes,
                        _ => data,
                    };
                    self.queue
                        .write_buffer(&self.buffers[to.buffer], to.offset, data);
                }
                TraceStep::Clear { range } => encoder.clear_buffer(
                    &self.buffers[range.buffer],
                    range.offset,
                    Some(range.size),
                ),
                TraceStep::Copy { from, to } => encoder.copy_buffer_to_buffer(
                    &self.buffers[from.buffer],
                    from.offset,
                    &self.buffers[to.buffer],
                    to.offset,
                    from.size,
                ),
                TraceStep::Dispatch {
                    kernel,
                    entry,
                    constants,
                    params,
                    bindings,
                    workgroups,
                } => {
                    let key = format!("{kernel}:{entry}:{constants:?}");
                    let sources = &self.sources;
                    let pipeline = self.pipelines.entry(key).or_insert_with(|| {
                        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(kernel),
                            source: wgpu::ShaderSource::Wgsl(sources[kernel].into()),
                        });
                        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: None,
                            layout: None,
                            module: &module,
                            entry_point: Some(entry),
                            compilation_options: wgpu::PipelineCompilationOptions {
                                constants,
                                ..Default::default()
                            },
                            cache: None,
                        })
                    });
                    let uniform = device.create_buffer(&wgpu::BufferDescriptor {
                        label: None,
                        size: (params.len() as u64).max(16),
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    // A fresh buffer: its write lands before the submit that reads it.
                    let mut bytes = params.clone();
                    bytes.resize(bytes.len().max(16), 0);
                    self.queue.write_buffer(&uniform, 0, &bytes);
                    let mut entries = vec![wgpu::BindGroupEntry {
                        binding: 0,
                        resource: uniform.as_entire_binding(),
                    }];
                    for (b, range) in bindings.iter().enumerate() {
                        entries.push(wgpu::BindGroupEntry {
                            binding: b as u32 + 1,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &self.buffers[range.buffer],
                                offset: range.offset,
                                size: wgpu::BufferSize::new(range.size),
                            }),
                        });
                    }
                    let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout: &pipeline.get_bind_group_layout(0),
                        entries: &entries,
                    });
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, &group, &[]);
                    pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                }
                TraceStep::Read { from } => {
                    let staging = device.create_buffer(&wgpu::BufferDescriptor {
                        label: None,
                        size: from.size,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    encoder.copy_buffer_to_buffer(
                        &self.buffers[from.buffer],
                        from.offset,
                        &staging,
                        0,
                        from.size,
                    );
                    staged.push(staging);
                }
            }
        }
        self.queue.submit([encoder.finish()]);
        staged
            .iter()
            .map(|staging| {
                staging
                    .slice(..)
                    .map_async(wgpu::MapMode::Read, |r| r.unwrap());
                device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
                let bytes = staging.slice(..).get_mapped_range().unwrap().to_vec();
                staging.unmap();
                bytes
            })
            .collect()
    }
}

fn trained_bytes(preset: &str, data: &Dataset, dir: &Path) -> Vec<u8> {
    let spec = ModelSpec::preset(preset).unwrap();
    let model = Sequential::new(&Cpu::new(), spec, 5).unwrap();
    let config = TrainConfig {
        epochs: 1,
        batch_size: 50,
        seed: 5,
        ..Default::default()
    };
    let mut trainer = Trainer::new(model, config, data.split(Split::Train), None).unwrap();
    trainer.fit(None, &mut |_| {}, &mut |_| {}).unwrap();
    let path = dir.join(format!("{preset}.safetensors"));
    trainer.finish().unwrap().0.save(&path).unwrap();
    std::fs::read(path).unwrap()
}

/// The plan's read of the probabilities among what the replay read.
fn probabilities(plan: &WebPlan, reads: &[Vec<u8>]) -> Vec<f32> {
    let index = plan.trace.steps[plan.setup..plan.output]
        .iter()
        .filter(|s| matches!(s, TraceStep::Read { .. }))
        .count();
    bytemuck_f32(&reads[index])
}

fn bytemuck_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn every_presets_plan_replays_to_the_cpu_backends_probabilities() {
    let Some((gpu, queue)) = common::gpu_with_queue() else {
        return;
    };
    let data = sample();
    let test = data.split(Split::Test);
    let dir = tempfile::tempdir().unwrap();
    for preset in ["tutorial", "mlp", "resnet", "inception", "fast", "best"] {
        let bytes = trained_bytes(preset, &data, dir.path());
        let plan = WebPlan::record(&bytes, &PathBuf::from(preset)).unwrap();
        let mut cpu = Sequential::from_bytes(&Cpu::new(), &bytes, Path::new(preset)).unwrap();
        let mut replayer = Replayer::new(&gpu, &queue, &plan.trace);
        replayer.run(&plan.trace.steps[..plan.setup], None);
        let mut answers = Vec::new();
        for image in [3usize, 4] {
            let pixels = &test.pixels()[image * 784..(image + 1) * 784];
            let reads = replayer.run(
                &plan.trace.steps[plan.setup..],
                Some((plan.input - plan.setup, pixels)),
            );
            let replayed = probabilities(&plan, &reads);
            let expected = cpu.predict(pixels).unwrap().probabilities;
            assert_eq!(replayed.len(), plan.classes);
            let difference = replayed
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                difference <= TOLERANCE,
                "{preset}, image {image}: replayed {replayed:?}, CPU {expected:?}"
            );
            answers.push(replayed);
        }
        assert_ne!(answers[0], answers[1], "{preset}: two images, one answer");
    }
}

/// A trace carries buffers only: where the device picks a texture kernel (CPU-emulated adapters do for
/// convolutions of 4 or more channels), finishing the trace says so instead of returning a plan that
/// cannot run.
#[test]
fn a_texture_binding_makes_the_trace_an_error() {
    let Some((gpu, _)) = common::gpu_with_queue() else {
        return;
    };
    if !gpu.is_cpu_emulated() {
        eprintln!("SKIPPED: {} picks buffer kernels only", gpu.name());
        return;
    }
    use digits_tensor::{Backend, Conv2d, ConvOps};
    let spec = Conv2d::new(2, 8, 16, (12, 12), (3, 3));
    let x = gpu.upload(&vec![0.5f32; spec.input_len()]).unwrap();
    let w = gpu.upload(&vec![0.25f32; spec.weight_len()]).unwrap();
    let y = gpu.zeros::<f32>(spec.output_len()).unwrap();
    gpu.start_trace();
    gpu.conv2d(&spec, &x, &w, None, &y).unwrap();
    let error = gpu.finish_trace().unwrap_err().to_string();
    assert!(error.contains("texture"), "{error}");
}
