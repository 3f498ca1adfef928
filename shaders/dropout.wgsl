// Dropout, forward and backward (the same function of the same mask):
//   out[i] = x[i] · scale where element i is kept, else 0; kept iff (random_bits(seed, stream, i) >> 8) >= threshold
// with threshold = rate·2²⁴ and scale = 1 / (1 - rate), both computed on the host. random_bits is the
// counter-based hash of ops/dropout.rs, on 32-bit words only, so the mask is the CPU's bit for bit.
// One element per invocation; grids past 65535 workgroups fold into y.

struct Params {
    n: u32,
    offset: u32, // counter of this piece's first element
    seed_lo: u32,
    seed_hi: u32,
    stream_lo: u32,
    stream_hi: u32,
    threshold: u32,
    scale: f32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Wellons' lowbias32: a bijective 32-bit mixer.
fn mix(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x21f0aaadu;
    h ^= h >> 15u;
    h *= 0x735a2d97u;
    return h ^ (h >> 15u);
}

// Keep in sync with ops::dropout::random_bits (the conformance check compares masks bit for bit).
fn random_bits(counter: u32) -> u32 {
    var h = mix(p.seed_lo ^ 0x9e3779b9u);
    h = mix(h ^ p.seed_hi);
    h = mix(h ^ p.stream_lo);
    h = mix(h ^ p.stream_hi);
    return mix(mix(h ^ counter));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    if i >= p.n {
        return;
    }
    let keep = (random_bits(p.offset + i) >> 8u) >= p.threshold;
    out[i] = select(0.0, x[i] * p.scale, keep);
}
