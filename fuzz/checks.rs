//! What each fuzz target checks on one input, shared by the libFuzzer targets (`fuzz_targets/`) and by
//! `cargo test` (`tests/fuzz_inputs.rs`), which runs every committed seed and every input a fuzzer ever
//! crashed on through the same code. Each check panics only when the code under test misbehaves.

use std::path::Path;

/// IDX parsing, gzip or not: any bytes give an array or a typed error naming the source, never a panic, and
/// memory stays bounded by what the input holds. What was read writes back, and reads again to the same
/// bytes (bytes, not values: NaN != NaN).
pub fn idx(bytes: &[u8]) {
    let write = |array: &digits_idx::IdxArray| {
        let mut written = Vec::new();
        array
            .write(&mut written, digits_idx::Compression::None)
            .expect("an array read always writes");
        written
    };
    match digits_idx::IdxArray::read(bytes, "fuzz.idx") {
        Ok(array) => {
            let written = write(&array);
            let again = digits_idx::IdxArray::read(written.as_slice(), "again.idx")
                .expect("what was written reads back");
            assert_eq!(write(&again), written);
        }
        Err(error) => assert!(error.to_string().contains("fuzz.idx"), "{error}"),
    }
}

/// Model files (safetensors plus the architecture in the metadata): any bytes load as a model that predicts
/// finite probabilities, or give a typed error naming the file.
pub fn model_file(bytes: &[u8]) {
    let cpu = digits_tensor::Cpu::new();
    match digits_nn::Sequential::from_bytes(&cpu, bytes, Path::new("fuzz.safetensors")) {
        Ok(mut model) => {
            let [c, h, w] = model.spec().input;
            let pixels = vec![128u8; c * h * w];
            let predictions = model.predict(&pixels).expect("a loaded model predicts");
            assert!(predictions.probabilities.iter().all(|p| p.is_finite()));
        }
        Err(error) => assert!(error.to_string().contains("fuzz.safetensors"), "{error}"),
    }
}

/// Model descriptions in TOML and JSON: any text parses to a checked description within the stated limits
/// that round-trips, or to an error naming the origin.
pub fn model_description(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    for (origin, parsed) in [
        (
            "fuzz.toml",
            digits_nn::ModelSpec::from_toml_str(text, "fuzz.toml"),
        ),
        (
            "fuzz.json",
            digits_nn::ModelSpec::from_json_str(text, "fuzz.json"),
        ),
    ] {
        match parsed {
            Ok(spec) => {
                let params = spec.param_count().expect("a checked description counts");
                assert!(params <= digits_nn::MAX_PARAMS);
                let again = digits_nn::ModelSpec::from_json_str(&spec.to_json(), "again.json")
                    .expect("a checked description round-trips");
                assert_eq!(again.to_json(), spec.to_json());
            }
            Err(error) => assert!(error.to_string().starts_with(origin), "{error}"),
        }
    }
}

/// Picture decoding (PNG, JPEG, within the image crate's default allocation limits, as `digits predict`
/// decodes) and preparation: any bytes give a 28×28 image or an error.
pub fn picture(bytes: &[u8]) {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes));
    reader.limits(image::Limits::default());
    let Ok(reader) = reader.with_guessed_format() else {
        return;
    };
    let Ok(picture) = reader.decode() else {
        return;
    };
    if let Ok(prepared) = digits::prepare::prepare(&picture) {
        let side = digits::prepare::SIDE;
        assert_eq!(prepared.pixels.len(), side * side);
    }
}
