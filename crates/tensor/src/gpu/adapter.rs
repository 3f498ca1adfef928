//! Finding adapters and opening a device, kept apart from the work so tests and tools can inject a device.

use crate::{Result, TensorError};

/// Which adapter to open.
#[derive(Clone, Debug, Default)]
pub struct AdapterRequest {
    /// An index into [`list_adapters`], or a case-insensitive part of the adapter name. `None`: the default adapter.
    pub adapter: Option<String>,
    /// Restrict to these backends (e.g. `vulkan`). `None`: every backend, or `WGPU_BACKEND` when set.
    pub backends: Option<wgpu::Backends>,
}

impl AdapterRequest {
    /// Parses a device string as a user types it: `""`/`"gpu"`/`"default"` (the default adapter), a backend
    /// name (`vulkan`, `metal`, `dx12`, `gl`), an adapter index (`1`), or part of an adapter's name (`llvmpipe`).
    pub fn parse(text: &str) -> Self {
        let lower = text.trim().to_ascii_lowercase();
        let backend = match lower.as_str() {
            "" | "gpu" | "default" => return Self::default(),
            "vulkan" => Some(wgpu::Backends::VULKAN),
            "metal" => Some(wgpu::Backends::METAL),
            "dx12" => Some(wgpu::Backends::DX12),
            "gl" | "gles" | "opengl" => Some(wgpu::Backends::GL),
            _ => None,
        };
        match backend {
            Some(backends) => AdapterRequest {
                adapter: None,
                backends: Some(backends),
            },
            None => AdapterRequest {
                adapter: Some(text.trim().to_string()),
                backends: None,
            },
        }
    }
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
    /// Whether [`open_adapter`] with a default request picks this one.
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
    let instance = instance(None);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let default =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .ok()
            .map(|a| a.get_info());
    adapters
        .iter()
        .enumerate()
        .map(|(index, adapter)| {
            let info = adapter.get_info();
            AdapterSummary {
                index,
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
    let Some(wanted) = &request.adapter else {
        return pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| TensorError::NoAdapter(format!(": {e}")));
    };
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    let names: Vec<String> = adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            format!("{} ({:?})", info.name, info.backend)
        })
        .collect();
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
