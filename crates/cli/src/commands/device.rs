//! The `--device` option shared by the commands that run a model: the CPU backend or a GPU adapter.

use anyhow::Context;
use digits_tensor::gpu::{HardwareChoice, best_hardware_adapter};
use digits_tensor::{AdapterRequest, Backend, Cpu, Gpu};

/// Which device runs the model; flatten into a command's arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// `cpu` for the CPU backend, `gpu` for the best GPU adapter, an index or part of a name from
    /// `digits devices`, or a backend (vulkan, metal, dx12, gl). Default: the fastest real GPU (discrete,
    /// then integrated, then virtual), else the CPU backend; software adapters (llvmpipe, SwiftShader, WARP)
    /// are slower than the CPU backend and run only when named.
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
}

/// An opened backend and why it was chosen. Commands are generic over [`digits_tensor::Ops`];
/// [`with_backend!`] picks the arm.
#[derive(Clone)]
pub struct Device {
    /// The backend.
    pub backend: DeviceBackend,
    /// Why this device runs the work, e.g. `named by --device` or `the fastest GPU found (a discrete GPU)`.
    pub why: String,
}

/// The two backends.
#[derive(Clone)]
pub enum DeviceBackend {
    /// The CPU backend.
    Cpu(Cpu),
    /// A wgpu adapter.
    Gpu(Gpu),
}

impl Device {
    /// The backend's name as users see it, e.g. `cpu (2 threads)` or `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)`.
    pub fn name(&self) -> String {
        match &self.backend {
            DeviceBackend::Cpu(cpu) => cpu.name(),
            DeviceBackend::Gpu(gpu) => gpu.name(),
        }
    }

    /// The device line's text: the name and why it was chosen.
    pub fn describe(&self) -> String {
        format!("{} [{}]", self.name(), self.why)
    }

    fn cpu(why: impl Into<String>) -> Self {
        Device {
            backend: DeviceBackend::Cpu(Cpu::new()),
            why: why.into(),
        }
    }
}

impl DeviceArgs {
    /// Opens the device the user asked for. Without `--device`, the fastest real GPU, else the CPU backend;
    /// a device the user named must open or it is an error.
    pub fn open(&self) -> anyhow::Result<Device> {
        self.open_with_default(false)
    }

    /// Like [`DeviceArgs::open`], but without `--device` the CPU backend is used: for work too small to repay
    /// starting a GPU (one picture).
    pub fn open_prefer_cpu(&self) -> anyhow::Result<Device> {
        self.open_with_default(true)
    }

    fn open_with_default(&self, prefer_cpu: bool) -> anyhow::Result<Device> {
        match self.device.as_deref().map(str::trim) {
            Some(name) if name.eq_ignore_ascii_case("cpu") => Ok(Device::cpu("named by --device")),
            Some(name) => {
                let request = AdapterRequest::parse(name).context("--device")?;
                let gpu = Gpu::new(&request).with_context(|| {
                    format!("cannot open the GPU adapter {name:?} (see `digits devices`; `--device cpu` uses the CPU)")
                })?;
                Ok(Device {
                    backend: DeviceBackend::Gpu(gpu),
                    why: "named by --device".into(),
                })
            }
            None if prefer_cpu => Ok(Device::cpu(
                "the default for this command: one small batch does not repay starting a GPU",
            )),
            None => Ok(default_device()),
        }
    }
}

/// The fastest real GPU, else the CPU backend, saying why.
fn default_device() -> Device {
    match best_hardware_adapter() {
        HardwareChoice::Found(adapter, rank) => match Gpu::open(&adapter) {
            Ok(gpu) => Device {
                backend: DeviceBackend::Gpu(gpu),
                why: format!("the fastest GPU found: {}", rank.describe()),
            },
            Err(error) => Device::cpu(format!(
                "the GPU could not be opened ({error}); `--device cpu` skips trying"
            )),
        },
        HardwareChoice::None { software } if software.is_empty() => {
            Device::cpu("no GPU adapter found")
        }
        HardwareChoice::None { software } => Device::cpu(format!(
            "no real GPU found; the software adapter{} {} emulate{} a GPU on the processor more slowly \
             (`--device gpu` uses one anyway)",
            if software.len() == 1 { "" } else { "s" },
            software.join(", "),
            if software.len() == 1 { "s" } else { "" },
        )),
    }
}

/// Runs `$body` with `$backend` bound to the concrete backend inside a [`Device`].
macro_rules! with_backend {
    ($device:expr, |$backend:ident| $body:expr) => {
        match $device.backend {
            $crate::commands::device::DeviceBackend::Cpu($backend) => $body,
            $crate::commands::device::DeviceBackend::Gpu($backend) => $body,
        }
    };
}
pub(crate) use with_backend;
