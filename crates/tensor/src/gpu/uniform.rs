//! The Rust twins of the kernels' uniform parameter structs, checked against the WGSL: every shader's
//! `var<uniform>` struct is reflected with naga, and each member must sit at the offset of the Rust field of the
//! same name, with a 4-byte scalar of the same kind, in a Rust struct of the WGSL struct's size (or that
//! rounded up to 16 bytes). A field added, moved, renamed or retyped on one side only fails the test.

/// A Rust uniform struct's layout, as [`uniform_layout!`] records it next to the struct.
pub(crate) struct UniformLayout {
    pub name: &'static str,
    /// The shaders whose `Params` it is.
    pub shaders: &'static [&'static str],
    pub size: usize,
    /// Name, byte offset and Rust type of every field but padding.
    pub fields: Vec<(&'static str, usize, &'static str)>,
}

/// The type name of the field a projection reaches: the field's type, inferred.
pub(crate) fn field_type<S, T>(_: fn(&S) -> &T) -> &'static str {
    std::any::type_name::<T>()
}

/// `uniform_layout!(Params for ["shader"] { field, ... })`: the layout of a `#[repr(C)]` uniform struct.
macro_rules! uniform_layout {
    ($ty:ident for [$($shader:literal),+] { $($field:ident),* $(,)? }) => {
        $crate::gpu::uniform::UniformLayout {
            name: stringify!($ty),
            shaders: &[$($shader),+],
            size: ::std::mem::size_of::<$ty>(),
            fields: vec![$((
                stringify!($field),
                ::std::mem::offset_of!($ty, $field),
                $crate::gpu::uniform::field_type(|s: &$ty| &s.$field),
            )),*],
        }
    };
}
pub(crate) use uniform_layout;

/// Every uniform struct's layout, family by family.
#[cfg(test)]
fn all() -> Vec<UniformLayout> {
    crate::family::FAMILIES
        .iter()
        .flat_map(|family| (family.uniforms)())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::all;

    /// A WGSL struct member: name, byte offset, scalar kind.
    type Member = (String, u32, naga::ScalarKind);

    /// The struct bound as `var<uniform>` at group 0, binding 0: its size and its members but padding.
    fn reflect(source: &str) -> Option<(usize, Vec<Member>)> {
        let module = naga::front::wgsl::parse_str(source).expect("the shader parses");
        let global = module.global_variables.iter().map(|(_, g)| g).find(|g| {
            g.space == naga::AddressSpace::Uniform
                && g.binding
                    .as_ref()
                    .is_some_and(|b| b.group == 0 && b.binding == 0)
        })?;
        let naga::TypeInner::Struct { members, span } = &module.types[global.ty].inner else {
            panic!("the uniform at binding 0 is not a struct");
        };
        // Padding members (`_pad...`) only hold the place of the fields after them.
        let members = members
            .iter()
            .filter(|m| !m.name.as_deref().is_some_and(|n| n.starts_with('_')))
            .map(|m| {
                let kind = match module.types[m.ty].inner {
                    naga::TypeInner::Scalar(scalar) => scalar.kind,
                    ref other => panic!("member {:?} is not a scalar: {other:?}", m.name),
                };
                (m.name.clone().unwrap_or_default(), m.offset, kind)
            })
            .collect();
        Some((*span as usize, members))
    }

    #[test]
    fn every_uniform_struct_matches_its_rust_twin() {
        let layouts = all();
        for kernel in crate::family::kernels() {
            let Some((span, members)) = reflect(kernel.source) else {
                continue;
            };
            let twins: Vec<_> = layouts
                .iter()
                .filter(|l| l.shaders.contains(&kernel.name))
                .collect();
            assert_eq!(
                twins.len(),
                1,
                "shaders/{}.wgsl needs one Rust twin in its family's uniforms",
                kernel.name
            );
            let twin = twins[0];
            // The dispatcher pads each parameter block to 16 bytes, so a twin may stop at the WGSL size.
            assert!(
                (span..=span.next_multiple_of(16)).contains(&twin.size),
                "{}: {} is {} bytes, the WGSL struct {span}",
                kernel.name,
                twin.name,
                twin.size
            );
            for (name, offset, kind) in &members {
                let field = twin.fields.iter().find(|f| f.0 == name.as_str());
                let Some(&(_, rust_offset, rust_type)) = field else {
                    panic!(
                        "{}: member {name} has no field in {}",
                        kernel.name, twin.name
                    );
                };
                assert_eq!(
                    rust_offset as u32, *offset,
                    "{}: {name} of {}",
                    kernel.name, twin.name
                );
                let expected = match kind {
                    naga::ScalarKind::Uint => "u32",
                    naga::ScalarKind::Sint => "i32",
                    naga::ScalarKind::Float => "f32",
                    other => panic!("{}: {name} is {other:?}", kernel.name),
                };
                assert_eq!(
                    rust_type, expected,
                    "{}: {name} of {}",
                    kernel.name, twin.name
                );
            }
            assert_eq!(
                twin.fields.len(),
                members.len(),
                "{}: {} has fields the WGSL struct lacks",
                kernel.name,
                twin.name
            );
        }
    }
}
