// Data augmentation: gathers images from a u8 dataset on the device by an index buffer, applies a random
// affine transform to each, samples bilinearly (pixels outside read as 0) and normalises:
//   out[i, y, x] = bilinear(data[indices[index_offset + i]], c + R(angle)·((x, y) - c - shift) / zoom)·scale + shift
// with c the image centre ((w-1)/2, (h-1)/2: pixel centres at integers, so a zero transform reads every pixel
// exactly). Image i's angle, shift and zoom come from random_bits(seed, stream, 4i .. 4i+3), the hash of
// ops/dropout.rs, and sin/cos from the polynomial of ops::augment::sin_cos, so the CPU draws the same.
// The data is u8 packed four to a u32 word (byte j: bits 8·(j%4) of word j/4); an index past the data
// reads as a blank image. One output pixel per invocation; grids past 65535 workgroups fold into y.

struct Params {
    count: u32, // images in this piece
    height: u32,
    width: u32,
    index_offset: u32,
    images: u32, // images in the data
    seed_lo: u32,
    seed_hi: u32,
    stream_lo: u32,
    stream_hi: u32,
    max_angle: f32, // radians
    max_shift: f32, // fraction of the size
    max_zoom: f32,
    scale: f32,
    shift: f32,
    first: u32, // batch position of this piece's first image
    _pad: u32,
}

const WG: u32 = 256u;
const FRAC_2_PI: f32 = 0.63661977236758134;
const FRAC_PI_2: f32 = 1.5707963267948966;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Wellons' lowbias32; random_bits as in dropout.wgsl (keep the three in sync: the checks compare them).
fn mix(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x21f0aaadu;
    h ^= h >> 15u;
    h *= 0x735a2d97u;
    return h ^ (h >> 15u);
}

fn random_bits(counter: u32) -> u32 {
    var h = mix(p.seed_lo ^ 0x9e3779b9u);
    h = mix(h ^ p.seed_hi);
    h = mix(h ^ p.stream_lo);
    h = mix(h ^ p.stream_hi);
    return mix(mix(h ^ counter));
}

// Uniform in [-1, 1), from 24 random bits.
fn draw(counter: u32) -> f32 {
    return 2.0 * (f32(random_bits(counter) >> 8u) * (1.0 / 16777216.0)) - 1.0;
}

// (sin a, cos a): the polynomial of ops::augment::sin_cos.
fn sin_cos(a: f32) -> vec2<f32> {
    let q = round(a * FRAC_2_PI);
    let r = a - q * FRAC_PI_2;
    let r2 = r * r;
    let s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0)))));
    let c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0))));
    switch ((i32(q) % 4 + 4) % 4) {
        case 0: { return vec2<f32>(s, c); }
        case 1: { return vec2<f32>(c, -s); }
        case 2: { return vec2<f32>(-s, -c); }
        default: { return vec2<f32>(-c, s); }
    }
}

// Pixel (x, y) of image `row`, 0 outside the image or the data.
fn pixel(row: u32, x: f32, y: f32) -> f32 {
    if x < 0.0 || y < 0.0 || x >= f32(p.width) || y >= f32(p.height) || row >= p.images {
        return 0.0;
    }
    let j = row * p.height * p.width + u32(y) * p.width + u32(x);
    return f32((data[j / 4u] >> (8u * (j % 4u))) & 0xffu);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * WG;
    let size = p.height * p.width;
    if i >= p.count * size {
        return;
    }
    let local = i / size;
    let at = i - local * size;
    let image = p.first + local;
    let row = indices[p.index_offset + image];

    let sc = sin_cos(draw(4u * image) * p.max_angle);
    let inv_zoom = 1.0 / (1.0 + draw(4u * image + 3u) * p.max_zoom);
    let shift_x = draw(4u * image + 1u) * p.max_shift * f32(p.width);
    let shift_y = draw(4u * image + 2u) * p.max_shift * f32(p.height);

    let cx = (f32(p.width) - 1.0) / 2.0;
    let cy = (f32(p.height) - 1.0) / 2.0;
    let dx = (f32(at % p.width) - cx - shift_x) * inv_zoom;
    let dy = (f32(at / p.width) - cy - shift_y) * inv_zoom;
    let sx = cx + (sc.y * dx - sc.x * dy);
    let sy = cy + (sc.x * dx + sc.y * dy);

    let x0 = floor(sx);
    let y0 = floor(sy);
    let fx = sx - x0;
    let fy = sy - y0;
    let top = pixel(row, x0, y0) * (1.0 - fx) + pixel(row, x0 + 1.0, y0) * fx;
    let bottom = pixel(row, x0, y0 + 1.0) * (1.0 - fx) + pixel(row, x0 + 1.0, y0 + 1.0) * fx;
    out[i] = (top * (1.0 - fy) + bottom * fy) * p.scale + p.shift;
}
