// One Adadelta step (Zeiler's; Keras's and PyTorch's formulas, crates/tensor/src/ops/optim.rs) over a flat
// parameter arena, in place:
//   a = rho * a + (1 - rho) * g^2                       (accumulated squared gradients)
//   d = sqrt(u + eps) / sqrt(a + eps) * g               (the update, with the previous u)
//   u = rho * u + (1 - rho) * d^2                       (accumulated squared updates)
//   p = p - lr * d
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
@group(0) @binding(3) var<storage, read_write> a: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;
// The same as vec4s.
@group(0) @binding(1) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> a4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> u4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads4[i];
    let ai = p.rho * a4[i] + p.one_minus_rho * (g * g);
    let d = sqrt(u4[i] + p.epsilon) / sqrt(ai + p.epsilon) * g;
    a4[i] = ai;
    u4[i] = p.rho * u4[i] + p.one_minus_rho * (d * d);
    params4[i] -= p.lr * d;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads[i];
    let ai = p.rho * a[i] + p.one_minus_rho * (g * g);
    let d = sqrt(u[i] + p.epsilon) / sqrt(ai + p.epsilon) * g;
    a[i] = ai;
    u[i] = p.rho * u[i] + p.one_minus_rho * (d * d);
    params[i] -= p.lr * d;
}
