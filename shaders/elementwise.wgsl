// Elementwise f32 kernels (crates/tensor/src/ops/elementwise.rs):
//   add:           out[i] = a[i] + b[i]
//   scale:         out[i] = alpha * x[i]
//   relu:          out[i] = max(x[i], 0)
//   relu_backward: out[i] = y[i] > 0 ? g[i] : 0      (y is the ReLU's output, g the gradient of it)
//   fill:          out[i] = alpha
//   mul_assign:    x[i] = x[i] * by[i]                 (in place: pruning masks on the weights)
// The `*4` entry points take one vec4 per invocation, over p.n vec4s (a buffer's first 4*floor(len/4)
// elements): on lavapipe that moves 2.5x more bytes per second than one float per invocation. The scalar
// entry points take one float per invocation over elements p.start..p.n, for the last len % 4.
// Grids past 65535 workgroups fold into y; the linear index is id.x + id.y * num_workgroups.x * WG.
// Each entry point binds only what it uses, at 1, 2, ... in argument order, so variables of different entry
// points share binding numbers (WGSL checks bindings per entry point).

struct Params {
    n: u32,     // elements (scalar entries) or vec4s (vec4 entries) in the buffers
    alpha: f32, // scale's factor, fill's value
    start: u32, // first element (scalar entries)
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;

// Scalar views. add, relu_backward: two inputs and an output.
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out2: array<f32>;
// scale, relu: one input (in0) and an output. mul_assign: `by` (in0) and x (out1), read and written.
@group(0) @binding(2) var<storage, read_write> out1: array<f32>;
// fill: only an output.
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;

// The same as vec4s.
@group(0) @binding(1) var<storage, read> vin0: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> vin1: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> vout2: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> vout1: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> vout0: array<vec4<f32>>;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}

@compute @workgroup_size(WG)
fn add4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        vout2[i] = vin0[i] + vin1[i];
    }
}

@compute @workgroup_size(WG)
fn scale4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        vout1[i] = p.alpha * vin0[i];
    }
}

@compute @workgroup_size(WG)
fn relu4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        vout1[i] = max(vin0[i], vec4(0.0));
    }
}

@compute @workgroup_size(WG)
fn relu_backward4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        vout2[i] = select(vec4(0.0), vin1[i], vin0[i] > vec4(0.0));
    }
}

@compute @workgroup_size(WG)
fn fill4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        vout0[i] = vec4(p.alpha);
    }
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + index(gid, groups);
    if i < p.n {
        out2[i] = in0[i] + in1[i];
    }
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + index(gid, groups);
    if i < p.n {
        out1[i] = p.alpha * in0[i];
    }
}

@compute @workgroup_size(WG)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + index(gid, groups);
    if i < p.n {
        out1[i] = max(in0[i], 0.0);
    }
}

@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + index(gid, groups);
    if i < p.n {
        out2[i] = select(0.0, in1[i], in0[i] > 0.0);
    }
}

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + index(gid, groups);
    if i < p.n {
        out0[i] = p.alpha;
    }
}

@compute @workgroup_size(WG)
fn mul_assign4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if i < p.n {
        vout1[i] = vout1[i] * vin0[i];
    }
}

@compute @workgroup_size(WG)
fn mul_assign(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = p.start + index(gid, groups);
    if i < p.n {
        out1[i] = out1[i] * in0[i];
    }
}
