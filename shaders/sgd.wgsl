// One SGD step with momentum (Keras's formulas, crates/tensor/src/ops/optim.rs) over a flat arena, in place:
//   v = momentum * v - lr * g
//   p = p + v                          (plain)
//   p = p + momentum * v - lr * g      (Nesterov, with the new v)
// main4 takes one vec4 per invocation over p.n vec4s (the arena's first 4*floor(len/4) elements); main takes
// elements p.start..p.n, for the rest. Grids past 65535 workgroups fold into y.

struct Params {
    n: u32,     // elements (main) or vec4s (main4)
    start: u32, // first element (main)
    lr: f32,
    momentum: f32,
    nesterov: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;
// The same as vec4s.
@group(0) @binding(1) var<storage, read_write> params4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> grads4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> velocity4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads4[i];
    let vi = p.momentum * velocity4[i] - p.lr * g;
    velocity4[i] = vi;
    if p.nesterov != 0u {
        params4[i] += p.momentum * vi - p.lr * g;
    } else {
        params4[i] += vi;
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let g = grads[i];
    let vi = p.momentum * velocity[i] - p.lr * g;
    velocity[i] = vi;
    if p.nesterov != 0u {
        params[i] += p.momentum * vi - p.lr * g;
    } else {
        params[i] += vi;
    }
}
