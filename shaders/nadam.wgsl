// One Nadam step (Dozat's Adam with Nesterov momentum; Keras's formulas with its momentum schedule,
// crates/tensor/src/ops/optim.rs) over a flat parameter arena, in place:
//   m = b1 * m + (1 - b1) * g
//   v = b2 * v + (1 - b2) * g^2
//   p = p - lr * (cm * m + cg * g) / (sqrt(v * cv) + eps)
// where cm = u_{t+1} / (1 - prod_{k<=t+1} u_k), cg = (1 - u_t) / (1 - prod_{k<=t} u_k), cv = 1 / (1 - b2^t)
// and u_t = b1 * (1 - 0.5 * 0.96^(0.004 t)), computed by the host.
// main4 takes one vec4 per invocation over p.n vec4s (the arena's first 4*floor(len/4) elements); main takes
// elements p.start..p.n, for the rest. Grids past 65535 workgroups fold into y.

struct Params {
    n: u32,     // elements (main) or vec4s (main4)
    start: u32, // first element (main)
    lr: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    momentum_coefficient: f32,
    gradient_coefficient: f32,
    second_moment_coefficient: f32,
    _pad0: u32,
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
    let step = p.momentum_coefficient * mi + p.gradient_coefficient * g;
    params4[i] -= p.lr * step / (sqrt(vi * p.second_moment_coefficient) + p.epsilon);
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
    let step = p.momentum_coefficient * mi + p.gradient_coefficient * g;
    params[i] -= p.lr * step / (sqrt(vi * p.second_moment_coefficient) + p.epsilon);
}
