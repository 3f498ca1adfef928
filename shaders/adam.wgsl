// One Adam or AdamW step (Keras's formulas, crates/tensor/src/ops/optim.rs) over a flat parameter arena, in
// place:
//   m = b1 * m + (1 - b1) * g
//   v = b2 * v + (1 - b2) * g^2
//   p = p * decay - alpha * m / (sqrt(v) + eps),  alpha = lr * sqrt(1 - b2^t) / (1 - b1^t) and
//   decay = 1 - lr * weight_decay (AdamW's decoupled decay; exactly 1 for Adam), computed by the host
// main4 takes one vec4 per invocation over p.n vec4s (the arena's first 4*floor(len/4) elements; 2.5x the
// bandwidth of one float per invocation on lavapipe); main takes elements p.start..p.n, for the rest.
// Grids past 65535 workgroups fold into y.

struct Params {
    n: u32,     // elements (main) or vec4s (main4)
    start: u32, // first element (main)
    alpha: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    decay: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
// The same as vec4s.
@group(0) @binding(1) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> v4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads4[i];
    let mi = p.beta1 * m4[i] + p.one_minus_beta1 * g;
    let vi = p.beta2 * v4[i] + p.one_minus_beta2 * (g * g);
    m4[i] = mi;
    v4[i] = vi;
    params4[i] = params4[i] * p.decay - p.alpha * mi / (sqrt(vi) + p.epsilon);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads[i];
    let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
    let vi = p.beta2 * v[i] + p.one_minus_beta2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i] * p.decay - p.alpha * mi / (sqrt(vi) + p.epsilon);
}
