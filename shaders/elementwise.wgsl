// Elementwise f32 kernels over n elements, one element per invocation (crates/tensor/src/ops/elementwise.rs):
//   add:           out[i] = a[i] + b[i]
//   scale:         out[i] = alpha * x[i]
//   relu:          out[i] = max(x[i], 0)
//   relu_backward: out[i] = y[i] > 0 ? g[i] : 0      (y is the ReLU's output, g the gradient of it)
//   fill:          out[i] = alpha
// Grids past 65535 workgroups fold into y; the linear index is id.x + id.y * num_workgroups.x * WG.
// Each entry point binds only what it uses, at 1, 2, ... in argument order, so variables of different entry
// points share binding numbers (WGSL checks bindings per entry point).

struct Params {
    n: u32,
    alpha: f32, // scale's factor, fill's value
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;

// add, relu_backward: two inputs and an output.
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;
// scale, relu: one input (in0) and an output.
@group(0) @binding(2) var<storage, read_write> out1: array<f32>;
// fill: only an output.
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        out2[i] = in0[i] + in1[i];
    }
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        out1[i] = p.alpha * in0[i];
    }
}

@compute @workgroup_size(WG)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        out1[i] = max(in0[i], 0.0);
    }
}

@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        out2[i] = select(0.0, in1[i], in0[i] > 0.0);
    }
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        out0[i] = p.alpha;
    }
}
