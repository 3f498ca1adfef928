// An exponential moving average of a flat arena (the weights' EMA, crates/tensor/src/ops/optim.rs), in place:
//   average = decay * average + (1 - decay) * value
// main4 takes one vec4 per invocation over p.n vec4s (the arena's first 4*floor(len/4) elements); main takes
// elements p.start..p.n, for the rest. Grids past 65535 workgroups fold into y.

struct Params {
    n: u32,     // elements (main) or vec4s (main4)
    start: u32, // first element (main)
    decay: f32,
    one_minus_decay: f32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> average: array<f32>;
@group(0) @binding(2) var<storage, read> value: array<f32>;
// The same as vec4s.
@group(0) @binding(1) var<storage, read_write> average4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> value4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    average4[i] = p.decay * average4[i] + p.one_minus_decay * value4[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    average[i] = p.decay * average[i] + p.one_minus_decay * value[i];
}
