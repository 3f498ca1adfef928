// GEMM with workgroup-memory tiles, for real GPUs: C[m,n] = op(A)·op(B) (+ bias[n]) (ReLU), row-major.
// A workgroup of 16x16 invocations computes a BM x BN tile of C, each invocation a 4x4 block, staging
// BK-deep slices of A and B in workgroup memory so each global load is reused BM or BN times.
// Any shape works: loads past the edge read zero, stores past the edge are skipped. Transposes are strides.
// Also the generic fallback on CPU-emulated adapters for shapes the vec4 kernel cannot take.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    flags: u32, // bit 0: add bias, bit 1: ReLU, bit 2: A is [k,m], bit 3: B is [n,k]
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const WG: u32 = 16u;       // invocations per side
const TM: u32 = 4u;        // rows of C per invocation
const TN: u32 = 4u;        // columns of C per invocation
const BM: u32 = 64u;       // WG * TM
const BN: u32 = 64u;       // WG * TN
const BK: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [BK][BM]
var<workgroup> tile_b: array<f32, 1024>; // [BK][BN]

fn load_a(row: u32, kk: u32) -> f32 {
    if row >= p.m || kk >= p.k {
        return 0.0;
    }
    if (p.flags & 4u) != 0u {
        return a[kk * p.m + row];
    }
    return a[row * p.k + kk];
}

fn load_b(kk: u32, col: u32) -> f32 {
    if kk >= p.k || col >= p.n {
        return 0.0;
    }
    if (p.flags & 8u) != 0u {
        return b[col * p.k + kk];
    }
    return b[kk * p.n + col];
}

@compute @workgroup_size(16, 16)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let tile_row = wid.y * BM;
    let tile_col = wid.x * BN;
    let flat = lid.y * WG + lid.x; // 0..256
    var acc: array<array<f32, 4>, 4>;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // 256 invocations fill 1024 entries of each tile: 4 each.
        for (var e = 0u; e < 4u; e++) {
            let idx = flat + e * 256u;
            let kk = idx / BM;
            let mm = idx % BM;
            tile_a[idx] = load_a(tile_row + mm, k0 + kk);
            tile_b[idx] = load_b(k0 + kk, tile_col + mm);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < TM; i++) {
                av[i] = tile_a[kk * BM + lid.y * TM + i];
            }
            for (var j = 0u; j < TN; j++) {
                bv[j] = tile_b[kk * BN + lid.x * TN + j];
            }
            for (var i = 0u; i < TM; i++) {
                for (var j = 0u; j < TN; j++) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < TM; i++) {
        let row = tile_row + lid.y * TM + i;
        if row >= p.m {
            continue;
        }
        for (var j = 0u; j < TN; j++) {
            let col = tile_col + lid.x * TN + j;
            if col >= p.n {
                continue;
            }
            var x = acc[i][j];
            if (p.flags & 1u) != 0u {
                x += bias[col];
            }
            if (p.flags & 2u) != 0u {
                x = max(x, 0.0);
            }
            c[row * p.n + col] = x;
        }
    }
}
