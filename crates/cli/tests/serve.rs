//! `digits serve` as scripts and the page use it: the model description, predictions from pictures and from
//! pixel arrays (the same numbers as `digits predict`), capped bodies, clear errors, concurrent clients.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{agent, digits, run, sample_dir, scratch, serve, train_on_sample};

/// Status and JSON body of a POST to `/api/predict`.
fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, serde_json::Value) {
    post_to(&format!("{url}/api/predict"), content_type, body)
}

fn post_to(url: &str, content_type: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut response = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn trained_model(dir: &Path) -> PathBuf {
    train_on_sample(dir, "mlp").0.join("model.safetensors")
}

/// `digits predict --json` for test image `index` or a picture.
fn predicted(dir: &Path, model: &Path, what: &[&str]) -> serde_json::Value {
    let (output, stdout, stderr) = run(digits(dir)
        .args(["predict", "--json", "--model"])
        .arg(model)
        .arg("--data")
        .arg(sample_dir())
        .args(what));
    assert!(output.status.success(), "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    document["predictions"][0].clone()
}

fn assert_same_probabilities(a: &serde_json::Value, b: &serde_json::Value) {
    let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
    assert_eq!(a.len(), 10);
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-6,
            "{a:?} vs {b:?}"
        );
    }
}

fn test_image(index: usize) -> Vec<u8> {
    let data = digits_idx::Dataset::load(sample_dir()).unwrap();
    data.split(digits_idx::Split::Test)
        .image(index)
        .unwrap()
        .to_vec()
}

#[test]
fn serves_the_page_the_model_and_predictions_as_predict_makes_them() {
    let dir = scratch("serve");
    let model = trained_model(&dir);
    let server = serve(&dir, &model, &["--workers", "2"]);

    let mut page = agent().get(&server.url).call().unwrap();
    let html = page.body_mut().read_to_string().unwrap();
    assert!(html.contains("<canvas id=\"pad\""), "{html}");

    let mut info = agent()
        .get(format!("{}/api/model", server.url))
        .call()
        .unwrap();
    let info: serde_json::Value =
        serde_json::from_str(&info.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(info["name"], "mlp");
    assert_eq!(info["parameters"], 101_770);

    // Pixel arrays are what the model sees: the same numbers as predicting the test image itself.
    for index in [0, 1, 7] {
        let pixels = test_image(index);
        let rows: Vec<&[u8]> = pixels.chunks(28).collect();
        let body = serde_json::json!({ "pixels": rows }).to_string();
        let (status, answer) = post(&server.url, "application/json", body.as_bytes());
        assert_eq!(status, 200, "{answer}");
        let reference = predicted(&dir, &model, &["--test-index", &index.to_string()]);
        assert_eq!(answer["digit"], reference["digit"]);
        assert_same_probabilities(&answer["probabilities"], &reference["probabilities"]);
        assert_eq!(answer["prepared"].as_array().unwrap().len(), 784);
    }

    // A picture (dark ink on white, 4× larger) is prepared as `digits predict` prepares it.
    let pixels = test_image(3);
    let picture = image::GrayImage::from_fn(112, 112, |x, y| {
        image::Luma([255 - pixels[(y / 4 * 28 + x / 4) as usize]])
    });
    let file = dir.join("drawn.png");
    picture.save(&file).unwrap();
    let (status, answer) = post(&server.url, "image/png", &std::fs::read(&file).unwrap());
    assert_eq!(status, 200, "{answer}");
    let reference = predicted(&dir, &model, &[file.to_str().unwrap()]);
    assert_eq!(answer["digit"], reference["digit"]);
    assert_same_probabilities(&answer["probabilities"], &reference["probabilities"]);

    // Bad bodies: a clear 400 that says what was wrong.
    let (status, answer) = post(&server.url, "image/png", b"not a picture");
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not a PNG or JPEG"),
        "{answer}"
    );
    let (status, answer) = post(&server.url, "application/json", br#"{"pixels": [[1, 2]]}"#);
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("28 rows"),
        "{answer}"
    );
    let blank = dir.join("blank.png");
    image::GrayImage::from_pixel(50, 50, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let (status, answer) = post(&server.url, "image/png", &std::fs::read(&blank).unwrap());
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("cannot find a digit"),
        "{answer}"
    );

    // Concurrent clients all get their own answers.
    let body =
        serde_json::json!({ "pixels": test_image(0).chunks(28).collect::<Vec<_>>() }).to_string();
    let (_, expected) = post(&server.url, "application/json", body.as_bytes());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let (status, answer) = post(&server.url, "application/json", body.as_bytes());
                    assert_eq!(status, 200);
                    assert_eq!(answer["probabilities"], expected["probabilities"]);
                }
            });
        }
    });
}

/// Status and body of a GET.
fn get(url: &str) -> (u16, Vec<u8>) {
    let mut response = agent().get(url).call().expect("the server answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_vec().unwrap_or_default(),
    )
}

/// What the page's WebGPU path fetches: the plan, its bytes, the kernels it names (the files of `shaders/`
/// as compiled in), and pictures prepared by the server as `digits predict` prepares them.
#[test]
fn serves_the_webgpu_plan_its_kernels_and_prepared_pictures() {
    let dir = scratch("serve-webgpu");
    let model = trained_model(&dir);
    let server = serve(&dir, &model, &[]);

    let (status, page) = get(&format!("{}/", server.url));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("./webgpu.js"));
    let (status, dispatcher) = get(&format!("{}/webgpu.js", server.url));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&dispatcher).contains("export async function openWebGpu"));

    let (status, plan) = get(&format!("{}/api/webgpu/plan", server.url));
    assert_eq!(status, 200);
    let plan: serde_json::Value = serde_json::from_slice(&plan).unwrap();
    let (status, data) = get(&format!("{}/api/webgpu/data", server.url));
    assert_eq!(status, 200);
    let steps = plan["steps"].as_array().unwrap();
    let setup = plan["setup"].as_u64().unwrap() as usize;
    assert!(setup > 0 && setup < steps.len());
    assert_eq!(
        steps[plan["input"].as_u64().unwrap() as usize]["to"][2],
        784
    );
    assert_eq!(
        steps[plan["output"].as_u64().unwrap() as usize]["from"][2],
        40
    );
    // Every write's bytes lie inside the data, and every buffer a step names exists.
    let buffers = plan["buffers"].as_array().unwrap().len() as u64;
    for step in steps {
        if step["op"] == "write" {
            let end = step["data"].as_u64().unwrap() + step["to"][2].as_u64().unwrap();
            assert!(end <= data.len() as u64, "{step}");
        }
        for range in ["to", "from", "range"].iter().filter_map(|k| step.get(*k)) {
            assert!(range[0].as_u64().unwrap() < buffers, "{step}");
        }
    }
    // The weights are in the data: the model file's 101,770 floats at least.
    assert!(data.len() >= 4 * 101_770, "{} bytes", data.len());
    for kernel in plan["kernels"].as_array().unwrap() {
        let name = kernel.as_str().unwrap();
        let (status, source) = get(&format!("{}/shaders/{name}.wgsl", server.url));
        assert_eq!(status, 200, "{name}");
        let file = std::fs::read(common::repo_root().join(format!("shaders/{name}.wgsl"))).unwrap();
        assert_eq!(source, file, "{name}.wgsl as served differs from shaders/");
    }
    let (status, _) = get(&format!("{}/shaders/nothing.wgsl", server.url));
    assert_eq!(status, 404);

    let pixels = test_image(3);
    let picture = image::GrayImage::from_fn(112, 112, |x, y| {
        image::Luma([255 - pixels[(y / 4 * 28 + x / 4) as usize]])
    });
    let mut png = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let (status, prepared) = post_to(&format!("{}/api/prepare", server.url), "image/png", &png);
    assert_eq!(status, 200, "{prepared}");
    let (_, predicted) = post(&server.url, "image/png", &png);
    assert_eq!(prepared["prepared"], predicted["prepared"]);
    let (status, answer) = post_to(&format!("{}/api/prepare", server.url), "image/png", b"nope");
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not a PNG or JPEG"),
        "{answer}"
    );
}

#[test]
fn caps_bodies_and_warns_about_non_local_addresses() {
    let dir = scratch("serve-limits");
    let model = trained_model(&dir);
    let server = serve(&dir, &model, &["--max-body-kib", "1", "--host", "0.0.0.0"]);
    assert!(
        server.stderr_first_line.contains("warning")
            && server.stderr_first_line.contains("other machines"),
        "{}",
        server.stderr_first_line
    );
    let url = server.url.replace("0.0.0.0", "127.0.0.1");
    let (status, _) = post(&url, "image/png", &vec![0u8; 2048]);
    assert_eq!(status, 413);
    let (status, _) = post(&url, "image/png", &vec![0u8; 512]);
    assert_eq!(
        status, 400,
        "under the cap, the body is read (and is no picture)"
    );
}

#[test]
fn refuses_a_missing_model_naming_it() {
    let dir = scratch("serve-missing");
    let (output, _, stderr) = run(Command::new(env!("CARGO_BIN_EXE_digits"))
        .args(["serve", "--port", "0", "--model"])
        .arg(dir.join("nowhere.safetensors")));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nowhere.safetensors"), "{stderr}");
}
