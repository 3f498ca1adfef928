// GEMM for CPU-emulated adapters (lavapipe): C[m,n] = op(A)·op(B) (+ bias[n]) (ReLU), row-major.
// Each invocation computes a 16x8 block of C from vec4 loads, with no workgroup memory: llvmpipe runs
// 8 invocations per SIMD instruction and turns loads into gathers, so the more arithmetic per load the
// better; 16x8 blocks (32 vec4 accumulators, written out because arrays indexed in loops would live in
// memory) ran 1.5-3x faster than 4x8 ones on 1024^3 and on the MNIST network's shapes (BENCHMARKS.md).
//
// llvmpipe compiles each pipeline with LLVM at its first dispatch (the first training step pays for all of
// them), and every branch and store in the unrolled epilogue adds to that: with an edge check per element
// and 128 scalar stores, each entry point took 1.2-1.6 s to compile; as below, 0.2-0.35 s. So the epilogue
// has no branches: loads clamp the rows and vec4 columns past the edge of C to the last ones, which makes
// the block's extra rows and columns copies of real ones, and they are stored at the same clamped indices:
// the same values written again by the same invocation (no race), nothing past the edge. C is written in
// vec4s, 32 stores.
//
// Every operand's vec4 dimension and the columns of C must be whole vec4s (checked by the host):
//   nn: A [m,k] along k, B [k,n] along n      -> k % 4 == 0, n % 4 == 0
//   nt: A [m,k] along k, B [n,k] along k      -> k % 4 == 0, n % 4 == 0
//   tn: A [k,m] along m, B [k,n] along n      -> m % 4 == 0, n % 4 == 0
// The grid is [ceil(n / 64), ceil(m / 128)] workgroups of 8x8 invocations.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32, // bit 0: add bias, bit 1: ReLU
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<vec4<f32>>;

const TM: u32 = 16u; // rows of C per invocation
const TN: u32 = 8u;  // columns of C per invocation: two vec4, lo and hi

// The bias of columns 4q..4q+3 of C (vec4 column q), or zero without one.
fn bias4(q: u32) -> vec4<f32> {
    if (p.flags & 1u) == 0u {
        return vec4(0.0);
    }
    return vec4(bias[4u * q], bias[4u * q + 1u], bias[4u * q + 2u], bias[4u * q + 3u]);
}

// Stores one row of the block, with the epilogue: lo (+ bl) at vec4 column cl and hi (+ bh) at ch of row `row`.
fn store_row(row: u32, cl: u32, ch: u32, lo: vec4<f32>, hi: vec4<f32>, bl: vec4<f32>, bh: vec4<f32>) {
    let relu = (p.flags & 2u) != 0u;
    let o = row * (p.n / 4u);
    c[o + cl] = select(lo + bl, max(lo + bl, vec4(0.0)), relu);
    c[o + ch] = select(hi + bh, max(hi + bh, vec4(0.0)), relu);
}

// A·B: per step of 4 along k, rows i of C gain lo_i += Bl·a_i, hi_i += Bh·a_i, where a_i is row i of A at
// k..k+3 and the columns of Bl (Bh) are rows k..k+3 of B at the block's first (last) 4 columns.
@compute @workgroup_size(8, 8)
fn nn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    let cl = col0 / 4u;
    let ch = min(cl + 1u, n4 - 1u);
    let last = p.m - 1u;
    let r0 = min(row0, last) * k4; let r1 = min(row0 + 1u, last) * k4;
    let r2 = min(row0 + 2u, last) * k4; let r3 = min(row0 + 3u, last) * k4;
    let r4 = min(row0 + 4u, last) * k4; let r5 = min(row0 + 5u, last) * k4;
    let r6 = min(row0 + 6u, last) * k4; let r7 = min(row0 + 7u, last) * k4;
    let r8 = min(row0 + 8u, last) * k4; let r9 = min(row0 + 9u, last) * k4;
    let r10 = min(row0 + 10u, last) * k4; let r11 = min(row0 + 11u, last) * k4;
    let r12 = min(row0 + 12u, last) * k4; let r13 = min(row0 + 13u, last) * k4;
    let r14 = min(row0 + 14u, last) * k4; let r15 = min(row0 + 15u, last) * k4;
    var lo0: vec4<f32>; var lo1: vec4<f32>; var lo2: vec4<f32>; var lo3: vec4<f32>;
    var lo4: vec4<f32>; var lo5: vec4<f32>; var lo6: vec4<f32>; var lo7: vec4<f32>;
    var lo8: vec4<f32>; var lo9: vec4<f32>; var lo10: vec4<f32>; var lo11: vec4<f32>;
    var lo12: vec4<f32>; var lo13: vec4<f32>; var lo14: vec4<f32>; var lo15: vec4<f32>;
    var hi0: vec4<f32>; var hi1: vec4<f32>; var hi2: vec4<f32>; var hi3: vec4<f32>;
    var hi4: vec4<f32>; var hi5: vec4<f32>; var hi6: vec4<f32>; var hi7: vec4<f32>;
    var hi8: vec4<f32>; var hi9: vec4<f32>; var hi10: vec4<f32>; var hi11: vec4<f32>;
    var hi12: vec4<f32>; var hi13: vec4<f32>; var hi14: vec4<f32>; var hi15: vec4<f32>;
    for (var kk = 0u; kk < k4; kk++) {
        let kb = kk * 4u * n4;
        let bl = mat4x4(b[kb + cl], b[kb + n4 + cl], b[kb + 2u * n4 + cl], b[kb + 3u * n4 + cl]);
        let bh = mat4x4(b[kb + ch], b[kb + n4 + ch], b[kb + 2u * n4 + ch], b[kb + 3u * n4 + ch]);
        let a0 = a[r0 + kk]; lo0 += bl * a0; hi0 += bh * a0;
        let a1 = a[r1 + kk]; lo1 += bl * a1; hi1 += bh * a1;
        let a2 = a[r2 + kk]; lo2 += bl * a2; hi2 += bh * a2;
        let a3 = a[r3 + kk]; lo3 += bl * a3; hi3 += bh * a3;
        let a4 = a[r4 + kk]; lo4 += bl * a4; hi4 += bh * a4;
        let a5 = a[r5 + kk]; lo5 += bl * a5; hi5 += bh * a5;
        let a6 = a[r6 + kk]; lo6 += bl * a6; hi6 += bh * a6;
        let a7 = a[r7 + kk]; lo7 += bl * a7; hi7 += bh * a7;
        let a8 = a[r8 + kk]; lo8 += bl * a8; hi8 += bh * a8;
        let a9 = a[r9 + kk]; lo9 += bl * a9; hi9 += bh * a9;
        let a10 = a[r10 + kk]; lo10 += bl * a10; hi10 += bh * a10;
        let a11 = a[r11 + kk]; lo11 += bl * a11; hi11 += bh * a11;
        let a12 = a[r12 + kk]; lo12 += bl * a12; hi12 += bh * a12;
        let a13 = a[r13 + kk]; lo13 += bl * a13; hi13 += bh * a13;
        let a14 = a[r14 + kk]; lo14 += bl * a14; hi14 += bh * a14;
        let a15 = a[r15 + kk]; lo15 += bl * a15; hi15 += bh * a15;
    }
    let bl = bias4(cl);
    let bh = bias4(ch);
    store_row(min(row0, last), cl, ch, lo0, hi0, bl, bh);
    store_row(min(row0 + 1u, last), cl, ch, lo1, hi1, bl, bh);
    store_row(min(row0 + 2u, last), cl, ch, lo2, hi2, bl, bh);
    store_row(min(row0 + 3u, last), cl, ch, lo3, hi3, bl, bh);
    store_row(min(row0 + 4u, last), cl, ch, lo4, hi4, bl, bh);
    store_row(min(row0 + 5u, last), cl, ch, lo5, hi5, bl, bh);
    store_row(min(row0 + 6u, last), cl, ch, lo6, hi6, bl, bh);
    store_row(min(row0 + 7u, last), cl, ch, lo7, hi7, bl, bh);
    store_row(min(row0 + 8u, last), cl, ch, lo8, hi8, bl, bh);
    store_row(min(row0 + 9u, last), cl, ch, lo9, hi9, bl, bh);
    store_row(min(row0 + 10u, last), cl, ch, lo10, hi10, bl, bh);
    store_row(min(row0 + 11u, last), cl, ch, lo11, hi11, bl, bh);
    store_row(min(row0 + 12u, last), cl, ch, lo12, hi12, bl, bh);
    store_row(min(row0 + 13u, last), cl, ch, lo13, hi13, bl, bh);
    store_row(min(row0 + 14u, last), cl, ch, lo14, hi14, bl, bh);
    store_row(min(row0 + 15u, last), cl, ch, lo15, hi15, bl, bh);
}

// A·Bᵀ: B is [n,k]. Per step of 4 along k, lo_i += a_i·Bl (the dot products of a_i with the columns of
// Bl), where a_i is row i of A and the columns of Bl (Bh) are rows of B for the block's first (last) 4
// columns, all at k..k+3.
@compute @workgroup_size(8, 8)
fn nt(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let k4 = p.k / 4u;
    let n4 = p.n / 4u;
    let cl = col0 / 4u;
    let ch = min(cl + 1u, n4 - 1u);
    let last = p.m - 1u;
    let r0 = min(row0, last) * k4; let r1 = min(row0 + 1u, last) * k4;
    let r2 = min(row0 + 2u, last) * k4; let r3 = min(row0 + 3u, last) * k4;
    let r4 = min(row0 + 4u, last) * k4; let r5 = min(row0 + 5u, last) * k4;
    let r6 = min(row0 + 6u, last) * k4; let r7 = min(row0 + 7u, last) * k4;
    let r8 = min(row0 + 8u, last) * k4; let r9 = min(row0 + 9u, last) * k4;
    let r10 = min(row0 + 10u, last) * k4; let r11 = min(row0 + 11u, last) * k4;
    let r12 = min(row0 + 12u, last) * k4; let r13 = min(row0 + 13u, last) * k4;
    let r14 = min(row0 + 14u, last) * k4; let r15 = min(row0 + 15u, last) * k4;
    let c0 = 4u * cl * k4; let c1 = c0 + k4; let c2 = c1 + k4; let c3 = c2 + k4;
    let c4 = 4u * ch * k4; let c5 = c4 + k4; let c6 = c5 + k4; let c7 = c6 + k4;
    var lo0: vec4<f32>; var lo1: vec4<f32>; var lo2: vec4<f32>; var lo3: vec4<f32>;
    var lo4: vec4<f32>; var lo5: vec4<f32>; var lo6: vec4<f32>; var lo7: vec4<f32>;
    var lo8: vec4<f32>; var lo9: vec4<f32>; var lo10: vec4<f32>; var lo11: vec4<f32>;
    var lo12: vec4<f32>; var lo13: vec4<f32>; var lo14: vec4<f32>; var lo15: vec4<f32>;
    var hi0: vec4<f32>; var hi1: vec4<f32>; var hi2: vec4<f32>; var hi3: vec4<f32>;
    var hi4: vec4<f32>; var hi5: vec4<f32>; var hi6: vec4<f32>; var hi7: vec4<f32>;
    var hi8: vec4<f32>; var hi9: vec4<f32>; var hi10: vec4<f32>; var hi11: vec4<f32>;
    var hi12: vec4<f32>; var hi13: vec4<f32>; var hi14: vec4<f32>; var hi15: vec4<f32>;
    for (var kk = 0u; kk < k4; kk++) {
        let bl = mat4x4(b[c0 + kk], b[c1 + kk], b[c2 + kk], b[c3 + kk]);
        let bh = mat4x4(b[c4 + kk], b[c5 + kk], b[c6 + kk], b[c7 + kk]);
        let a0 = a[r0 + kk]; lo0 += a0 * bl; hi0 += a0 * bh;
        let a1 = a[r1 + kk]; lo1 += a1 * bl; hi1 += a1 * bh;
        let a2 = a[r2 + kk]; lo2 += a2 * bl; hi2 += a2 * bh;
        let a3 = a[r3 + kk]; lo3 += a3 * bl; hi3 += a3 * bh;
        let a4 = a[r4 + kk]; lo4 += a4 * bl; hi4 += a4 * bh;
        let a5 = a[r5 + kk]; lo5 += a5 * bl; hi5 += a5 * bh;
        let a6 = a[r6 + kk]; lo6 += a6 * bl; hi6 += a6 * bh;
        let a7 = a[r7 + kk]; lo7 += a7 * bl; hi7 += a7 * bh;
        let a8 = a[r8 + kk]; lo8 += a8 * bl; hi8 += a8 * bh;
        let a9 = a[r9 + kk]; lo9 += a9 * bl; hi9 += a9 * bh;
        let a10 = a[r10 + kk]; lo10 += a10 * bl; hi10 += a10 * bh;
        let a11 = a[r11 + kk]; lo11 += a11 * bl; hi11 += a11 * bh;
        let a12 = a[r12 + kk]; lo12 += a12 * bl; hi12 += a12 * bh;
        let a13 = a[r13 + kk]; lo13 += a13 * bl; hi13 += a13 * bh;
        let a14 = a[r14 + kk]; lo14 += a14 * bl; hi14 += a14 * bh;
        let a15 = a[r15 + kk]; lo15 += a15 * bl; hi15 += a15 * bh;
    }
    let bl = bias4(cl);
    let bh = bias4(ch);
    store_row(min(row0, last), cl, ch, lo0, hi0, bl, bh);
    store_row(min(row0 + 1u, last), cl, ch, lo1, hi1, bl, bh);
    store_row(min(row0 + 2u, last), cl, ch, lo2, hi2, bl, bh);
    store_row(min(row0 + 3u, last), cl, ch, lo3, hi3, bl, bh);
    store_row(min(row0 + 4u, last), cl, ch, lo4, hi4, bl, bh);
    store_row(min(row0 + 5u, last), cl, ch, lo5, hi5, bl, bh);
    store_row(min(row0 + 6u, last), cl, ch, lo6, hi6, bl, bh);
    store_row(min(row0 + 7u, last), cl, ch, lo7, hi7, bl, bh);
    store_row(min(row0 + 8u, last), cl, ch, lo8, hi8, bl, bh);
    store_row(min(row0 + 9u, last), cl, ch, lo9, hi9, bl, bh);
    store_row(min(row0 + 10u, last), cl, ch, lo10, hi10, bl, bh);
    store_row(min(row0 + 11u, last), cl, ch, lo11, hi11, bl, bh);
    store_row(min(row0 + 12u, last), cl, ch, lo12, hi12, bl, bh);
    store_row(min(row0 + 13u, last), cl, ch, lo13, hi13, bl, bh);
    store_row(min(row0 + 14u, last), cl, ch, lo14, hi14, bl, bh);
    store_row(min(row0 + 15u, last), cl, ch, lo15, hi15, bl, bh);
}

// Aᵀ·B: A is [k,m]. Per step along k, four vec4 of A (the block's 16 rows of C) times two vec4 of B (its 8
// columns): an outer product added to the accumulators. Rows are clamped in vec4s, r0..r3.
@compute @workgroup_size(8, 8)
fn tn(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row0 = gid.y * TM;
    let col0 = gid.x * TN;
    if row0 >= p.m || col0 >= p.n {
        return;
    }
    let m4 = p.m / 4u;
    let n4 = p.n / 4u;
    let r0 = min(row0 / 4u + 0u, m4 - 1u);
    let r1 = min(row0 / 4u + 1u, m4 - 1u);
    let r2 = min(row0 / 4u + 2u, m4 - 1u);
    let r3 = min(row0 / 4u + 3u, m4 - 1u);
    let cl = col0 / 4u;
    let ch = min(cl + 1u, n4 - 1u);
    var lo0: vec4<f32>; var lo1: vec4<f32>; var lo2: vec4<f32>; var lo3: vec4<f32>;
    var lo4: vec4<f32>; var lo5: vec4<f32>; var lo6: vec4<f32>; var lo7: vec4<f32>;
    var lo8: vec4<f32>; var lo9: vec4<f32>; var lo10: vec4<f32>; var lo11: vec4<f32>;
    var lo12: vec4<f32>; var lo13: vec4<f32>; var lo14: vec4<f32>; var lo15: vec4<f32>;
    var hi0: vec4<f32>; var hi1: vec4<f32>; var hi2: vec4<f32>; var hi3: vec4<f32>;
    var hi4: vec4<f32>; var hi5: vec4<f32>; var hi6: vec4<f32>; var hi7: vec4<f32>;
    var hi8: vec4<f32>; var hi9: vec4<f32>; var hi10: vec4<f32>; var hi11: vec4<f32>;
    var hi12: vec4<f32>; var hi13: vec4<f32>; var hi14: vec4<f32>; var hi15: vec4<f32>;
    for (var kk = 0u; kk < p.k; kk++) {
        let bl = b[kk * n4 + cl];
        let bh = b[kk * n4 + ch];
        let a0 = a[kk * m4 + r0]; lo0 += a0.x * bl; hi0 += a0.x * bh;
        lo1 += a0.y * bl; hi1 += a0.y * bh;
        lo2 += a0.z * bl; hi2 += a0.z * bh;
        lo3 += a0.w * bl; hi3 += a0.w * bh;
        let a1 = a[kk * m4 + r1];
        lo4 += a1.x * bl; hi4 += a1.x * bh;
        lo5 += a1.y * bl; hi5 += a1.y * bh;
        lo6 += a1.z * bl; hi6 += a1.z * bh;
        lo7 += a1.w * bl; hi7 += a1.w * bh;
        let a2 = a[kk * m4 + r2];
        lo8 += a2.x * bl; hi8 += a2.x * bh;
        lo9 += a2.y * bl; hi9 += a2.y * bh;
        lo10 += a2.z * bl; hi10 += a2.z * bh;
        lo11 += a2.w * bl; hi11 += a2.w * bh;
        let a3 = a[kk * m4 + r3];
        lo12 += a3.x * bl; hi12 += a3.x * bh;
        lo13 += a3.y * bl; hi13 += a3.y * bh;
        lo14 += a3.z * bl; hi14 += a3.z * bh;
        lo15 += a3.w * bl; hi15 += a3.w * bh;
    }
    let bl = bias4(cl);
    let bh = bias4(ch);
    store_row(r0 * 4u, cl, ch, lo0, hi0, bl, bh);
    store_row(r0 * 4u + 1u, cl, ch, lo1, hi1, bl, bh);
    store_row(r0 * 4u + 2u, cl, ch, lo2, hi2, bl, bh);
    store_row(r0 * 4u + 3u, cl, ch, lo3, hi3, bl, bh);
    store_row(r1 * 4u, cl, ch, lo4, hi4, bl, bh);
    store_row(r1 * 4u + 1u, cl, ch, lo5, hi5, bl, bh);
    store_row(r1 * 4u + 2u, cl, ch, lo6, hi6, bl, bh);
    store_row(r1 * 4u + 3u, cl, ch, lo7, hi7, bl, bh);
    store_row(r2 * 4u, cl, ch, lo8, hi8, bl, bh);
    store_row(r2 * 4u + 1u, cl, ch, lo9, hi9, bl, bh);
    store_row(r2 * 4u + 2u, cl, ch, lo10, hi10, bl, bh);
    store_row(r2 * 4u + 3u, cl, ch, lo11, hi11, bl, bh);
    store_row(r3 * 4u, cl, ch, lo12, hi12, bl, bh);
    store_row(r3 * 4u + 1u, cl, ch, lo13, hi13, bl, bh);
    store_row(r3 * 4u + 2u, cl, ch, lo14, hi14, bl, bh);
    store_row(r3 * 4u + 3u, cl, ch, lo15, hi15, bl, bh);
}
