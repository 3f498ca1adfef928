// One RMSprop step (Keras's formulas, crates/tensor/src/ops/optim.rs) over a flat parameter arena, in place:
//   v = rho * v + (1 - rho) * g^2
//   p = p - lr * g / sqrt(v + eps)
// main4 takes one vec4 per invocation over p.n vec4s (the arena's first 4*floor(len/4) elements); main takes
// elements p.start..p.n, for the rest. Grids past 65535 workgroups fold into y.

struct Params {
    n: u32,     // elements (main) or vec4s (main4)
    start: u32, // first element (main)
    lr: f32,
    rho: f32,
    one_minus_rho: f32,
    epsilon: f32,
    _pad0: u32,
    _pad1: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
// The same as vec4s.
@group(0) @binding(1) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> v4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads4[i];
    let vi = p.rho * v4[i] + p.one_minus_rho * (g * g);
    v4[i] = vi;
    params4[i] -= p.lr * g / sqrt(vi + p.epsilon);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads[i];
    let vi = p.rho * v[i] + p.one_minus_rho * (g * g);
    v[i] = vi;
    params[i] -= p.lr * g / sqrt(vi + p.epsilon);
}
