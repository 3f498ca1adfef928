//! The `--device` option shared by the commands that run a model: the CPU backend or a GPU adapter.

use anyhow::Context;
use digits_tensor::{AdapterRequest, Backend, Cpu, Gpu};

/// Which device runs the model; flatten into a command's arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// `cpu` for the CPU backend, or a GPU adapter: an index or part of a name from `digits devices`,
    /// or a backend (vulkan, metal, dx12, gl). Default: the default GPU adapter, else the CPU.
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
}

/// An opened backend. Commands are generic over [`digits_tensor::Ops`]; [`with_backend!`] picks the arm.
#[derive(Clone)]
pub enum Device {
    /// The CPU backend.
    Cpu(Cpu),
    /// A wgpu adapter.
    Gpu(Gpu),
}

impl Device {
    /// The backend's name as users see it, e.g. `cpu (2 threads)` or `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)`.
    pub fn name(&self) -> String {
        match self {
            Device::Cpu(cpu) => cpu.name(),
            Device::Gpu(gpu) => gpu.name(),
        }
    }
}

impl DeviceArgs {
    /// Opens the device the user asked for. Without `--device`, the default GPU adapter, falling back to the
    /// CPU with a notice on stderr when there is none; a device the user named must open or it is an error.
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
            Some(name) if name.eq_ignore_ascii_case("cpu") => Ok(Device::Cpu(Cpu::new())),
            Some(name) => {
                let gpu = Gpu::new(&AdapterRequest::parse(name)).with_context(|| {
                    format!("cannot open the GPU adapter {name:?} (see `digits devices`; `--device cpu` uses the CPU)")
                })?;
                Ok(Device::Gpu(gpu))
            }
            None if prefer_cpu => Ok(Device::Cpu(Cpu::new())),
            None => match Gpu::default_adapter() {
                Ok(gpu) => Ok(Device::Gpu(gpu)),
                Err(error) => {
                    eprintln!("note: no usable GPU adapter ({error}); running on the CPU backend");
                    Ok(Device::Cpu(Cpu::new()))
                }
            },
        }
    }
}

/// Runs `$body` with `$backend` bound to the concrete backend inside a [`Device`].
macro_rules! with_backend {
    ($device:expr, |$backend:ident| $body:expr) => {
        match $device {
            $crate::commands::device::Device::Cpu($backend) => $body,
            $crate::commands::device::Device::Gpu($backend) => $body,
        }
    };
}
pub(crate) use with_backend;
