//! `digits serve` as scripts and the page use it: the model description, predictions from pictures and from
//! pixel arrays (the same numbers as `digits predict`), capped bodies, clear errors, concurrent clients.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod common;

use common::{digits, run, sample_dir, scratch, train_on_sample};

/// A running server, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    stderr_first_line: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, model: &Path, extra: &[&str]) -> Server {
    let mut child = digits(dir)
        .args(["serve", "--port", "0", "--model"])
        .arg(model)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start digits serve");
    let mut stderr_first_line = String::new();
    if extra.contains(&"0.0.0.0") {
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut stderr_first_line)
            .unwrap();
    }
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in `{line}`"))
        .trim_end_matches('/')
        .to_string();
    Server {
        child,
        url,
        stderr_first_line,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}

/// Status and JSON body of a POST.
fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut response = agent()
        .post(format!("{url}/api/predict"))
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
