// Fused softmax + cross-entropy with label smoothing over `rows` rows of `classes` logits, in ONE workgroup so
// the batch's loss is reduced in a fixed order (deterministic, no float atomics). The target of row r is
// t[c] = on * (c == label_r) + off, on = 1 - smoothing and off = smoothing / classes (computed by the host;
// on 1 and off 0 without smoothing):
//   m = max_c x[r, c], s = sum_c exp(x[r, c] - m)                      (numerically stable)
//   loss_r = log(s) - on * (x[r, label_r] - m) - off * sum_c (x[r, c] - m)   (= -sum_c t[c] log softmax[c])
//   hit_r  = 1 if the first argmax of row r is label_r, else 0
//   grad[r, c] = (exp(x[r, c] - m) / s - t[c]) * grad_scale            (entry loss_grad only)
//   stats[0] += sum_r loss_r, stats[1] += sum_r hit_r
// Invocation t handles rows t, t + WG, ... in order, then a fixed tree adds the WG partial sums.
// A label >= classes (which the host cannot check without a readback) is clamped to classes - 1.
//
// Entry distill_grad adds Hinton's soft targets from a teacher's logits z (knowledge distillation), at
// temperature T with weight α on the soft part:
//   p = softmax(z / T), q = softmax(x / T)                               (the teacher's and the student's)
//   loss_r = (1 - α) · hard loss_r + α · T² · Σ_c p[c] (log p[c] - log q[c])   (T² · KL(p ‖ q))
//   grad[r, c] = ((1 - α) · (softmax[c] - t[c]) + α · T · (q[c] - p[c])) * grad_scale
// T² keeps the soft part's gradient on the scale of the hard part's as T grows (Hinton et al., 2015).

struct Params {
    rows: u32,
    classes: u32,
    grad_scale: f32,
    target_on: f32,
    target_off: f32,
    temperature: f32,  // distill_grad only
    alpha: f32,        // distill_grad only
    _pad0: u32,
}

const WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;
@group(0) @binding(5) var<storage, read> teacher: array<f32>; // distill_grad only: the teacher's logits

var<workgroup> part_loss: array<f32, WG>;
var<workgroup> part_hits: array<f32, WG>;

struct Row {
    top: f32,
    sum: f32,
    label: u32,
    loss: f32,
    hit: f32,
}

fn row_stats(r: u32) -> Row {
    let base = r * p.classes;
    var m = logits[base];
    var best = 0u;
    for (var c = 1u; c < p.classes; c++) {
        let v = logits[base + c];
        if v > m {
            m = v;
            best = c;
        }
    }
    var s = 0.0;
    var deviations = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        s += exp(logits[base + c] - m);
        deviations += logits[base + c] - m;
    }
    let label = min(labels[r], p.classes - 1u);
    let loss = log(s) - p.target_on * (logits[base + label] - m) - p.target_off * deviations;
    return Row(m, s, label, loss, select(0.0, 1.0, best == label));
}

// Adds the workgroup's partial sums in a fixed tree and accumulates them into stats.
fn accumulate(lid: u32, loss: f32, hits: f32) {
    part_loss[lid] = loss;
    part_hits[lid] = hits;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            part_loss[lid] += part_loss[lid + s];
            part_hits[lid] += part_hits[lid + s];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        stats[0] += part_loss[0];
        stats[1] += part_hits[0];
    }
}

@compute @workgroup_size(WG)
fn loss(@builtin(local_invocation_index) lid: u32) {
    var loss = 0.0;
    var hits = 0.0;
    for (var r = lid; r < p.rows; r += WG) {
        let row = row_stats(r);
        loss += row.loss;
        hits += row.hit;
    }
    accumulate(lid, loss, hits);
}

@compute @workgroup_size(WG)
fn loss_grad(@builtin(local_invocation_index) lid: u32) {
    var loss = 0.0;
    var hits = 0.0;
    for (var r = lid; r < p.rows; r += WG) {
        let row = row_stats(r);
        loss += row.loss;
        hits += row.hit;
        let base = r * p.classes;
        let inv = 1.0 / row.sum;
        for (var c = 0u; c < p.classes; c++) {
            let prob = exp(logits[base + c] - row.top) * inv;
            let wanted = select(p.target_off, p.target_on + p.target_off, c == row.label);
            grad[base + c] = (prob - wanted) * p.grad_scale;
        }
    }
    accumulate(lid, loss, hits);
}

// A row's logits divided by T: their maximum and the sum of exp(v / T - max).
struct Tempered {
    top: f32,
    sum: f32,
}

fn tempered_teacher(base: u32) -> Tempered {
    var m = teacher[base] / p.temperature;
    for (var c = 1u; c < p.classes; c++) {
        m = max(m, teacher[base + c] / p.temperature);
    }
    var s = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        s += exp(teacher[base + c] / p.temperature - m);
    }
    return Tempered(m, s);
}

fn tempered_student(base: u32, top: f32) -> Tempered {
    let m = top / p.temperature;
    var s = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        s += exp(logits[base + c] / p.temperature - m);
    }
    return Tempered(m, s);
}

@compute @workgroup_size(WG)
fn distill_grad(@builtin(local_invocation_index) lid: u32) {
    var loss = 0.0;
    var hits = 0.0;
    for (var r = lid; r < p.rows; r += WG) {
        let row = row_stats(r);
        let base = r * p.classes;
        let t = tempered_teacher(base);
        let q = tempered_student(base, row.top);
        let log_t = log(t.sum);
        let log_q = log(q.sum);
        var kl = 0.0;
        let inv = 1.0 / row.sum;
        for (var c = 0u; c < p.classes; c++) {
            let log_pc = teacher[base + c] / p.temperature - t.top - log_t;
            let log_qc = logits[base + c] / p.temperature - q.top - log_q;
            let pc = exp(log_pc);
            kl += pc * (log_pc - log_qc);
            let prob = exp(logits[base + c] - row.top) * inv;
            let wanted = select(p.target_off, p.target_on + p.target_off, c == row.label);
            let hard = prob - wanted;
            let soft = exp(log_qc) - pc;
            grad[base + c] = ((1.0 - p.alpha) * hard + p.alpha * p.temperature * soft) * p.grad_scale;
        }
        loss += (1.0 - p.alpha) * row.loss + p.alpha * p.temperature * p.temperature * kl;
        hits += row.hit;
    }
    accumulate(lid, loss, hits);
}
