//! Finding adapters and opening a device, kept apart from the work so tests and tools can inject a device.

use crate::{Result, TensorError};

/// Which adapter to open.
#[derive(Clone, Debug, Default)]
pub struct AdapterRequest {
    /// An index into [`list_adapters`], or a case-insensitive part of the adapter name. `None`: the best-ranked
    /// adapter ([`AdapterRank`]), software adapters included.
    pub adapter: Option<String>,
    /// Restrict to these backends (e.g. `vulkan`). `None`: every backend, or `WGPU_BACKEND` when set.
    pub backends: Option<wgpu::Backends>,
}

impl AdapterRequest {
    /// Parses a device string as a user types it: `"gpu"` (the best-ranked adapter), a backend name
    /// (`vulkan`, `metal`, `dx12`, `gl`), an adapter index (`1`), or part of an adapter's name (`llvmpipe`).
    /// An empty string names nothing and is an error.
    pub fn parse(text: &str) -> Result<Self> {
        let lower = text.trim().to_ascii_lowercase();
        let backend = match lower.as_str() {
            "" => {
                return Err(TensorError::NoAdapter(
                    ": the device name is empty (name an adapter, an index or a backend; see `digits devices`)"
                        .into(),
                ));
            }
            "gpu" => return Ok(Self::default()),
            "vulkan" => Some(wgpu::Backends::VULKAN),
            "metal" => Some(wgpu::Backends::METAL),
            "dx12" => Some(wgpu::Backends::DX12),
            "gl" | "gles" | "opengl" => Some(wgpu::Backends::GL),
            _ => None,
        };
        Ok(match backend {
            Some(backends) => AdapterRequest {
                adapter: None,
                backends: Some(backends),
            },
            None => AdapterRequest {
                adapter: Some(text.trim().to_string()),
                backends: None,
            },
        })
    }
}

/// How an adapter ranks for running work when the user names none, best first. Software adapters (wgpu's
/// device type `Cpu`: llvmpipe, SwiftShader, WARP) emulate a GPU on the processor and are slower than a
/// CPU backend written for it, so a default choice passes them over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdapterRank {
    /// A GPU with its own memory.
    Discrete,
    /// A GPU sharing the processor's memory.
    Integrated,
    /// A GPU passed through a hypervisor.
    Virtual,
    /// A device whose type the driver does not say.
    Unknown,
    /// A GPU emulated on the processor.
    Software,
}

impl AdapterRank {
    /// The rank of an adapter.
    pub fn of(info: &wgpu::AdapterInfo) -> Self {
        match info.device_type {
            wgpu::DeviceType::DiscreteGpu => Self::Discrete,
            wgpu::DeviceType::IntegratedGpu => Self::Integrated,
            wgpu::DeviceType::VirtualGpu => Self::Virtual,
            wgpu::DeviceType::Other => Self::Unknown,
            wgpu::DeviceType::Cpu => Self::Software,
        }
    }

    /// Whether the adapter emulates a GPU on the processor.
    pub fn is_software(self) -> bool {
        self == Self::Software
    }

    /// What the rank means, for a device line: `a discrete GPU`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Discrete => "a discrete GPU",
            Self::Integrated => "an integrated GPU",
            Self::Virtual => "a virtual GPU",
            Self::Unknown => "a GPU of unknown type",
            Self::Software => "a software adapter emulating a GPU on the processor",
        }
    }
}

/// The best-ranked adapter among `adapters`, software ones included or not; of equal rank, the one on the
/// most capable backend (Vulkan, Metal, DX12, then GL, whose compute support is the thinnest), then the first.
fn best<'a>(
    adapters: impl IntoIterator<Item = &'a wgpu::Adapter>,
    include_software: bool,
) -> Option<&'a wgpu::Adapter> {
    let backend_order = |backend: wgpu::Backend| match backend {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        _ => 3,
    };
    adapters
        .into_iter()
        .filter(|a| include_software || !AdapterRank::of(&a.get_info()).is_software())
        .min_by_key(|a| {
            let info = a.get_info();
            (AdapterRank::of(&info), backend_order(info.backend))
        })
}

/// What a default choice found: the best hardware adapter, or none and the software adapters passed over.
pub enum HardwareChoice {
    /// The best-ranked adapter that is not a software one.
    Found(wgpu::Adapter, AdapterRank),
    /// No hardware adapter; the names of the software adapters found instead (possibly none).
    None {
        /// `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)`, ...
        software: Vec<String>,
    },
}

/// The best hardware adapter on any backend: discrete, then integrated, then virtual GPUs. Software adapters
/// are only ever opened when named.
pub fn best_hardware_adapter() -> HardwareChoice {
    let adapters = pollster::block_on(instance(None).enumerate_adapters(wgpu::Backends::all()));
    match best(&adapters, false) {
        Some(adapter) => {
            let rank = AdapterRank::of(&adapter.get_info());
            HardwareChoice::Found(adapter.clone(), rank)
        }
        None => HardwareChoice::None {
            software: adapters.iter().map(display_name).collect(),
        },
    }
}

fn display_name(adapter: &wgpu::Adapter) -> String {
    let info = adapter.get_info();
    format!("{} ({:?})", info.name, info.backend)
}

/// What `digits devices` shows about one adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// Position in the list, usable as `--device INDEX`.
    pub index: usize,
    /// Name, backend, device type, driver.
    pub info: wgpu::AdapterInfo,
    /// The adapter's own limits (what the runtime requests).
    pub limits: wgpu::Limits,
    /// Its [`AdapterRank`].
    pub rank: AdapterRank,
    /// Whether a command given no `--device` picks this one ([`best_hardware_adapter`]).
    pub is_default: bool,
}

fn instance(backends: Option<wgpu::Backends>) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(backends) = backends {
        desc.backends = backends;
    }
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds, in a stable order, with the default one marked.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let adapters = pollster::block_on(instance(None).enumerate_adapters(wgpu::Backends::all()));
    let default = best(&adapters, false).map(wgpu::Adapter::get_info);
    adapters
        .iter()
        .enumerate()
        .map(|(index, adapter)| {
            let info = adapter.get_info();
            AdapterSummary {
                index,
                rank: AdapterRank::of(&info),
                is_default: default.as_ref() == Some(&info),
                limits: adapter.limits(),
                info,
            }
        })
        .collect()
}

/// Finds the adapter a request names.
pub fn open_adapter(request: &AdapterRequest) -> Result<wgpu::Adapter> {
    let instance = instance(request.backends);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let Some(wanted) = &request.adapter else {
        return best(&adapters, true).cloned().ok_or_else(|| {
            TensorError::NoAdapter(match request.backends {
                Some(backends) => format!(" on {backends:?}"),
                None => String::new(),
            })
        });
    };
    let names: Vec<String> = adapters.iter().map(display_name).collect();
    let found = match wanted.parse::<usize>() {
        Ok(index) => adapters.into_iter().nth(index),
        Err(_) => {
            let needle = wanted.to_ascii_lowercase();
            adapters
                .into_iter()
                .find(|a| a.get_info().name.to_ascii_lowercase().contains(&needle))
        }
    };
    found.ok_or_else(|| {
        TensorError::NoAdapter(format!(
            " matching {wanted:?}; available: [{}] (see `digits devices`)",
            names.join(", ")
        ))
    })
}

/// Opens a device on `adapter` with the adapter's own limits (lavapipe offers 1024 invocations and 32 KiB of
/// workgroup memory per workgroup, four times wgpu's defaults).
pub fn open_device(adapter: &wgpu::Adapter) -> Result<(wgpu::Device, wgpu::Queue)> {
    let info = adapter.get_info();
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("digits"),
        required_features: wgpu::Features::empty(),
        required_limits: adapter.limits(),
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .map_err(|source| TensorError::RequestDevice {
        adapter: info.name,
        source,
    })
}
