//! `digits serve`: a local web server with a page to draw a digit on, and a JSON API for scripts.
//!
//! The page runs the model in the browser on WebGPU where it can: the server traces one prediction on a
//! device that runs nothing ([`webgpu`]) and serves the trace, its bytes and the WGSL files of `shaders/`;
//! `web/webgpu.js` replays it. Without WebGPU, the page asks `POST /api/predict` instead.
//!
//! Models are not shared between threads (a layer holds its backend's buffers): each of a few worker threads
//! loads its own copy and answers predictions sent to it over a channel, so requests run in parallel and a
//! slow one (a large photo to decode) holds up only its own worker. The HTTP side is axum on tokio.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use digits_nn::{ModelSpec, Sequential};
use digits_tensor::Cpu;
use serde::Serialize;
use tokio::sync::oneshot;

use super::eval::ensure_model_file;
use digits::prepare::{self, SIDE};
use webgpu::WebGpuPlan;

mod webgpu;

/// The page: a canvas, the prediction, the probabilities and the 28×28 image the model sees.
const PAGE: &str = include_str!("../../../../../web/index.html");
/// The page's WebGPU dispatcher: replays the plan with the browser's WebGPU.
const DISPATCHER: &str = include_str!("../../../../../web/webgpu.js");

/// Serve a page where you draw a digit and see what the model reads, and `POST /api/predict` (a PNG or JPEG
/// body, or JSON `{"pixels": [[..28 numbers..], ..28 rows..]}` of 0-255 values as the model sees them) for
/// scripts. Runs on the CPU backend.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file (model.safetensors or a checkpoint written by `digits train`).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,

    /// The address to listen on; anything but a loopback address exposes the model to the network.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,

    /// The port (0 picks a free one; the address is printed either way).
    #[arg(long, default_value_t = 8080)]
    port: u16,

    /// Largest request body accepted, in KiB; a larger one gets 413.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    max_body_kib: u32,

    /// Worker threads, each with its own copy of the model [default: the CPU count, at most 8].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: Option<u32>,
}

/// One prediction asked of a worker: the body as received, and where to send the answer.
struct Job {
    body: Body,
    reply: oneshot::Sender<Result<Answer, String>>,
}

/// A request body, parsed as far as the HTTP side can without the model.
enum Body {
    /// A PNG or JPEG, prepared as `digits predict` prepares a picture.
    Picture(Vec<u8>),
    /// 28×28 pixels as the model sees them.
    Pixels(Vec<u8>),
}

#[derive(Serialize)]
struct Answer {
    digit: usize,
    probabilities: Vec<f32>,
    model: String,
    /// The 28×28 image the model read, row-major, 0 black to 255 white.
    prepared: Vec<u8>,
}

struct Shared {
    jobs: Mutex<mpsc::Sender<Job>>,
    description: serde_json::Value,
    /// The traced prediction for the browser, or why there is none (the page then asks the server).
    webgpu: Result<WebGpuPlan, String>,
}

/// Loads the model, starts the workers and serves until Ctrl-C.
pub fn run(args: Args) -> anyhow::Result<()> {
    ensure_model_file(&args.model)?;
    let bytes = std::fs::read(&args.model)
        .with_context(|| format!("cannot read the model file {}", args.model.display()))?;
    let model = Sequential::from_bytes(&Cpu::new(), &bytes, &args.model)
        .with_context(|| format!("cannot load the model {}", args.model.display()))?;
    let spec = model.spec().clone();
    if spec.input != [1, SIDE, SIDE] {
        anyhow::bail!(
            "{} takes {:?} inputs; serve reads drawings into 1x{SIDE}x{SIDE} (MNIST-style) only",
            args.model.display(),
            spec.input
        );
    }
    drop(model);
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        |n| n as usize,
    );
    let webgpu = WebGpuPlan::record(&bytes, &args.model, &spec.name).map_err(|e| {
        let reason = format!("{e:#}");
        eprintln!(
            "warning: no WebGPU plan for the page, which will ask the server instead: {reason}"
        );
        reason
    });
    let jobs = start_workers(workers, Arc::new(bytes), &args.model, &spec.name);
    let shared = Arc::new(Shared {
        jobs: Mutex::new(jobs),
        description: describe(&spec, &args.model),
        webgpu,
    });
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/webgpu.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], DISPATCHER) }),
        )
        .route("/shaders/{file}", get(shader))
        .route("/api/model", get(model_info))
        .route("/api/webgpu/plan", get(webgpu_plan))
        .route("/api/webgpu/data", get(webgpu_data))
        .route("/api/prepare", post(prepare_picture))
        .route("/api/predict", post(predict))
        .layer(DefaultBodyLimit::max(args.max_body_kib as usize * 1024))
        .with_state(shared);

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let address = SocketAddr::new(args.host, args.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let bound = listener.local_addr()?;
        if !args.host.is_loopback() {
            eprintln!(
                "warning: listening on {bound}, reachable from other machines: anyone who can reach it can use the model"
            );
        }
        println!(
            "serving {} on http://{bound}/ with {workers} workers (Ctrl-C stops)",
            args.model.display()
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the server stopped")
    })
}

/// `workers` threads, each loading its own model from the file's bytes and answering jobs from the channel.
fn start_workers(
    workers: usize,
    bytes: Arc<Vec<u8>>,
    path: &std::path::Path,
    name: &str,
) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..workers {
        let (bytes, receiver, path, name) = (
            bytes.clone(),
            receiver.clone(),
            path.to_path_buf(),
            name.to_string(),
        );
        std::thread::spawn(move || {
            // The bytes loaded once already; should a copy fail (memory), this worker stops and the others
            // go on ("the workers have stopped" once none is left).
            let mut model = match Sequential::from_bytes(&Cpu::new(), &bytes, &path) {
                Ok(model) => model,
                Err(error) => {
                    eprintln!("error: a worker cannot load {}: {error}", path.display());
                    return;
                }
            };
            loop {
                // The lock is held only while waiting for the next job, never while answering one.
                let job = match receiver.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let answer = answer(&mut model, job.body, &name);
                let _ = job.reply.send(answer);
            }
        });
    }
    sender
}

/// Prepares a body and runs the model on it.
fn answer(model: &mut Sequential<Cpu>, body: Body, name: &str) -> Result<Answer, String> {
    let pixels = match body {
        Body::Pixels(pixels) => pixels,
        Body::Picture(bytes) => {
            prepare::prepare_bytes(&bytes)
                .map_err(|e| format!("{e:#}"))?
                .pixels
        }
    };
    let predictions = model
        .predict(&pixels)
        .map_err(|e| format!("prediction failed: {e}"))?;
    Ok(Answer {
        digit: predictions.predictions[0] as usize,
        probabilities: predictions.probabilities,
        model: name.to_string(),
        prepared: pixels,
    })
}

/// What `GET /api/model` says about the model.
fn describe(spec: &ModelSpec, path: &std::path::Path) -> serde_json::Value {
    serde_json::json!({
        "name": spec.name,
        "file": path.display().to_string(),
        "architecture": spec.architecture(),
        "parameters": spec.param_count().unwrap_or(0),
        "input": spec.input,
        "classes": spec.classes,
        "normalization": { "mean": spec.normalization.mean, "std": spec.normalization.std },
    })
}

async fn model_info(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.description.clone()).into_response()
}

/// `GET /shaders/<stem>.wgsl`: a kernel of `shaders/`, as compiled into the binary.
async fn shader(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match digits_tensor::family::kernels().find(|k| file.strip_suffix(".wgsl") == Some(k.name)) {
        Some(kernel) => (
            [(header::CONTENT_TYPE, "text/wgsl; charset=utf-8")],
            kernel.source,
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no kernel {file}")),
    }
}

async fn webgpu_plan(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.webgpu {
        Ok(plan) => (
            [(header::CONTENT_TYPE, "application/json")],
            plan.json.clone(),
        )
            .into_response(),
        Err(reason) => error(StatusCode::SERVICE_UNAVAILABLE, reason.clone()),
    }
}

async fn webgpu_data(State(shared): State<Arc<Shared>>) -> Response {
    match &shared.webgpu {
        Ok(plan) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            plan.blob.clone(),
        )
            .into_response(),
        Err(reason) => error(StatusCode::SERVICE_UNAVAILABLE, reason.clone()),
    }
}

/// `POST /api/prepare`: a PNG or JPEG prepared as `digits predict` prepares a picture, for the page to run the
/// model on itself; `{"prepared": 784 values}`.
async fn prepare_picture(body: axum::body::Bytes) -> Response {
    if body.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "the body is empty: send a PNG or JPEG",
        );
    }
    let prepared = tokio::task::spawn_blocking(move || prepare::prepare_bytes(&body)).await;
    match prepared {
        Ok(Ok(prepared)) => {
            axum::Json(serde_json::json!({ "prepared": prepared.pixels })).into_response()
        }
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, format!("{e:#}")),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "preparing the picture failed",
        ),
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

async fn predict(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let body = if is_json {
        match parse_pixels(&body) {
            Ok(pixels) => Body::Pixels(pixels),
            Err(message) => return error(StatusCode::BAD_REQUEST, message),
        }
    } else if body.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "the body is empty: send a PNG or JPEG, or JSON {\"pixels\": 28 rows of 28 numbers}",
        );
    } else {
        Body::Picture(body.to_vec())
    };
    let (reply, answer) = oneshot::channel();
    let sent = shared
        .jobs
        .lock()
        .map(|jobs| jobs.send(Job { body, reply }).is_ok())
        .unwrap_or(false);
    if !sent {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the workers have stopped",
        );
    }
    match answer.await {
        Ok(Ok(answer)) => axum::Json(answer).into_response(),
        Ok(Err(message)) => error(StatusCode::BAD_REQUEST, message),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "a worker stopped"),
    }
}

/// `{"pixels": [[...]]}`: 28 rows of 28 numbers in 0..=255, as the model sees them (white ink on black).
fn parse_pixels(body: &[u8]) -> Result<Vec<u8>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        pixels: Vec<Vec<f64>>,
    }
    let request: Request = serde_json::from_slice(body)
        .map_err(|e| format!("the JSON body is not {{\"pixels\": 28 rows of 28 numbers}}: {e}"))?;
    if request.pixels.len() != SIDE || request.pixels.iter().any(|row| row.len() != SIDE) {
        return Err(format!(
            "pixels must be {SIDE} rows of {SIDE} numbers, got {} rows of {:?}",
            request.pixels.len(),
            request
                .pixels
                .iter()
                .map(Vec::len)
                .collect::<std::collections::BTreeSet<_>>()
        ));
    }
    request
        .pixels
        .iter()
        .flatten()
        .map(|&v| {
            if (0.0..=255.0).contains(&v) {
                Ok(v.round() as u8)
            } else {
                Err(format!("pixel value {v} is outside 0..=255"))
            }
        })
        .collect()
}
