//! The draw-a-digit page in a real browser: headless Chromium driven through chromedriver (WebDriver), real
//! test digits drawn on the canvas with pointer events (mouse, pen and touch), the page's answer read back.
//! With WebGPU (SwiftShader, `--enable-unsafe-webgpu`), the page must run the model itself and agree with the
//! server's CPU backend within 1e-4; without it, the page must say so and fall back to `POST /api/predict`.
//!
//! Chromium and chromedriver come from Debian (`chromium chromium-driver`, installed by `.ci/run`); without
//! them the tests skip with a notice, or fail under `DIGITS_REQUIRE_GPU=1` (as in CI).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{agent, digits, repo_root, run, scratch, serve};

/// Largest difference allowed between the browser's and the server's probabilities: the WGSL kernels against
/// their CPU twins (conformance tolerances of ~1e-6 relative) carried through the softmax.
const TOLERANCE: f64 = 1e-4;
/// The canvas is 280×280: ten canvas pixels per pixel of a 28×28 digit.
const SCALE: i64 = 10;
/// W3C WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver with one Chromium session, both stopped when dropped.
struct Browser {
    driver: Child,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = agent().delete(&self.session).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Browser {
    /// Headless Chromium, with or without WebGPU; `None` (a visible skip) where Chromium or chromedriver is
    /// missing, unless `DIGITS_REQUIRE_GPU=1`.
    fn open(webgpu: bool) -> Option<Browser> {
        let chromium = std::env::var("DIGITS_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        if !found(&chromium) || !found("chromedriver") {
            assert!(
                std::env::var("DIGITS_REQUIRE_GPU").as_deref() != Ok("1"),
                "DIGITS_REQUIRE_GPU=1 but `{chromium}` or `chromedriver` is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "SKIPPED: no `{chromium}` or `chromedriver` (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while agent().get(format!("{base}/status")).call().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1000,800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if webgpu {
            // Headless Chromium on Linux offers WebGPU (on SwiftShader here) only when asked.
            args.push("--enable-unsafe-webgpu".into());
        } else {
            // WebGPU's adapter request then finds nothing, as in a browser without WebGPU.
            args.push("--disable-features=WebGPU".into());
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": which(&chromium), "args": args },
        }}});
        let mut browser = Browser {
            driver,
            session: String::new(),
            _profile: profile,
        };
        let answer = call("POST", &format!("{base}/session"), Some(capabilities));
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"));
        browser.session = format!("{base}/session/{id}");
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(method, &format!("{}{path}", self.session), body)
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    fn element(&self, css: &str) -> String {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no {css}: {found}"))
            .to_string()
    }

    /// Waits for the page's state to satisfy `ready` (a JavaScript expression over `window.digits`).
    fn wait_for(&self, ready: &str, what: &str) -> Value {
        let start = Instant::now();
        loop {
            let state = self.eval(&format!(
                "const s = window.digits; return s && ({ready}) ? s : null;"
            ));
            if !state.is_null() {
                return state;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the page never got {what}: {}",
                self.eval("return [window.digits, document.body.innerText];")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Draws `image` (28×28, u8) on the canvas: each row's runs of ink as one stroke, with `pointer` events.
    fn draw(&self, canvas: &str, image: &[u8], pointer: &str) {
        let centre = 28 * SCALE / 2;
        let at = |x: usize, y: usize| {
            json!({ "type": "pointerMove", "duration": 0, "origin": { ELEMENT: canvas },
                    "x": x as i64 * SCALE + SCALE / 2 - centre, "y": y as i64 * SCALE + SCALE / 2 - centre })
        };
        let mut actions = Vec::new();
        for y in 0..28 {
            let row = &image[y * 28..(y + 1) * 28];
            let mut x = 0;
            while x < 28 {
                if row[x] < 128 {
                    x += 1;
                    continue;
                }
                let first = x;
                while x < 28 && row[x] >= 128 {
                    x += 1;
                }
                actions.push(at(first, y));
                actions.push(json!({ "type": "pointerDown", "button": 0 }));
                actions.push(at(x - 1, y));
                actions.push(json!({ "type": "pointerUp", "button": 0 }));
            }
        }
        self.call(
            "POST",
            "/actions",
            Some(json!({ "actions": [{ "type": "pointer", "id": pointer,
                "parameters": { "pointerType": pointer }, "actions": actions }] })),
        );
        self.call("DELETE", "/actions", None);
    }

    fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let text = self.call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(text.as_str().expect("a base64 screenshot"))
            .unwrap()
    }
}

/// The absolute path of `program` on PATH (chromedriver wants the binary's path).
fn which(program: &str) -> String {
    if program.contains('/') {
        return program.to_string();
    }
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| program.to_string())
}

/// One WebDriver command; its `value`, or a panic with WebDriver's error.
fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let agent = agent();
    let mut response = match (method, body) {
        ("POST", body) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.unwrap_or_else(|| json!({})).to_string())
            .expect("chromedriver answers"),
        ("DELETE", _) => agent.delete(url).call().expect("chromedriver answers"),
        _ => agent.get(url).call().expect("chromedriver answers"),
    };
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(status == 200, "WebDriver {method} {url}: {status} {answer}");
    if answer.get("sessionId").is_some() {
        return answer;
    }
    answer["value"].clone()
}

/// `fast` trained one epoch on the MNIST copy this repository ships (99% on the test set in ~10 s).
fn trained_model(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("fast");
    let (output, _, stderr) = run(digits(dir)
        .args(["train", "--device", "cpu", "--model", "fast", "--data"])
        .arg(repo_root().join("data/mnist"))
        .arg("--out")
        .arg(&out));
    assert!(output.status.success(), "{stderr}");
    out.join("model.safetensors")
}

fn test_digits(count: usize) -> Vec<(Vec<u8>, u8)> {
    let data = digits_idx::Dataset::load(repo_root().join("data/mnist")).unwrap();
    let test = data.split(digits_idx::Split::Test);
    (0..count)
        .map(|i| (test.image(i).unwrap().to_vec(), test.labels()[i]))
        .collect()
}

/// The server's probabilities for 28×28 pixels (`POST /api/predict` with JSON).
fn server_probabilities(url: &str, prepared: &Value) -> Vec<f64> {
    let pixels: Vec<Vec<Value>> = prepared
        .as_array()
        .unwrap()
        .chunks(28)
        .map(<[Value]>::to_vec)
        .collect();
    let mut response = agent()
        .post(format!("{url}/api/predict"))
        .header("Content-Type", "application/json")
        .send(json!({ "pixels": pixels }).to_string())
        .unwrap();
    let answer: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    numbers(&answer["probabilities"])
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn the_page_reads_drawn_digits_with_our_kernels_on_webgpu() {
    let Some(browser) = Browser::open(true) else {
        return;
    };
    let dir = scratch("browser-webgpu");
    let model = trained_model(&dir);
    let server = serve(&dir, &model, &[]);
    browser.go(&format!("{}/", server.url));
    let state = browser.wait_for("s.path !== null", "a path");
    assert_eq!(
        state["path"], "webgpu",
        "WebGPU did not start: {}",
        state["reason"]
    );
    let text = browser.eval("return document.getElementById('path').textContent;");
    assert!(
        text.as_str().unwrap().contains("WebGPU in this browser"),
        "{text}"
    );

    let canvas = browser.element("#pad");
    let clear = browser.element("#clear");
    let mut right = 0;
    let mut worst: f64 = 0.0;
    let digits = test_digits(10);
    for (i, (image, label)) in digits.iter().enumerate() {
        browser.call("POST", &format!("/element/{clear}/click"), None);
        browser.wait_for("s.digit === null", "a cleared pad");
        let pointer = ["mouse", "pen", "touch"][i % 3];
        browser.draw(&canvas, image, pointer);
        let state = browser.wait_for(
            "s.digit !== null && s.answered === s.changes",
            "an answer for the whole drawing",
        );
        let ours = numbers(&state["probabilities"]);
        let theirs = server_probabilities(&server.url, &state["prepared"]);
        let difference = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        worst = worst.max(difference);
        assert!(
            difference <= TOLERANCE,
            "digit {i}: WebGPU {ours:?} against the server's {theirs:?}"
        );
        right += usize::from(state["digit"].as_u64() == Some(u64::from(*label)));
        eprintln!(
            "test digit {i} ({pointer}): label {label}, read {}",
            state["digit"]
        );
    }
    let state = browser.eval("return window.digits;");
    let mut latencies = numbers(&state["latencies"]);
    latencies.sort_by(f64::total_cmp);
    eprintln!(
        "{right}/10 right; largest difference from the server {worst:.2e}; WebGPU on {}: ready in {:.0} ms, inference median {:.1} ms over {} runs",
        state["adapter"],
        state["startup"].as_f64().unwrap(),
        latencies[latencies.len() / 2],
        latencies.len()
    );
    assert!(right >= 9, "only {right} of 10 drawn digits read right");
    let picture = dir.join("page.png");
    std::fs::write(&picture, browser.screenshot()).unwrap();
    eprintln!("screenshot: {}", picture.display());
}

#[test]
fn without_webgpu_the_page_says_so_and_asks_the_server() {
    let Some(browser) = Browser::open(false) else {
        return;
    };
    let dir = scratch("browser-fallback");
    let model = trained_model(&dir);
    let server = serve(&dir, &model, &[]);
    browser.go(&format!("{}/", server.url));
    let state = browser.wait_for("s.path !== null", "a path");
    assert_eq!(state["path"], "server", "{state}");
    let text = browser.eval("return document.getElementById('path').textContent;");
    assert!(
        text.as_str().unwrap().contains("server's CPU backend"),
        "{text}"
    );

    let canvas = browser.element("#pad");
    let (image, label) = &test_digits(1)[0];
    browser.draw(&canvas, image, "mouse");
    let state = browser.wait_for(
        "s.digit !== null && s.answered === s.changes",
        "an answer for the whole drawing",
    );
    assert_eq!(state["digit"].as_u64(), Some(u64::from(*label)), "{state}");
    assert_eq!(
        numbers(&state["probabilities"]),
        server_probabilities(&server.url, &state["prepared"])
    );
}
