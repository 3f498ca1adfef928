//! Element types a buffer can hold.

/// A plain element type storable in a buffer: `f32` for values, `u32` for indices, `u8` for raw pixels.
///
/// On the GPU, `u8` data is packed four to a `u32` word (WGSL has no 8-bit type); the kernels unpack it.
pub trait Element: bytemuck::Pod + Default + Send + Sync + std::fmt::Debug + 'static {
    /// Name used in error messages.
    const NAME: &'static str;
}

impl Element for f32 {
    const NAME: &'static str = "f32";
}
impl Element for u32 {
    const NAME: &'static str = "u32";
}
impl Element for u8 {
    const NAME: &'static str = "u8";
}
