//! Model files: round trips, PyTorch names and layouts, and the typed errors of bad files.

use std::collections::HashMap;
use std::path::Path;

use digits_idx::SplitMix64;
use digits_nn::{ModelSpec, NnError, Sequential};
use digits_tensor::Cpu;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

fn random_images(count: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    (0..count * 784)
        .map(|_| rng.below(256).unwrap() as u8)
        .collect()
}

#[test]
fn save_then_load_predicts_identically() {
    let cpu = Cpu::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut spec = ModelSpec::preset("tutorial").unwrap();
    spec.normalization = digits_nn::Normalization::MNIST;
    let mut model = Sequential::new(&cpu, spec, 3).unwrap();
    model.save(&path).unwrap();
    let mut loaded = Sequential::load(&cpu, &path).unwrap();
    assert_eq!(
        loaded.spec(),
        model.spec(),
        "architecture and normalisation come back"
    );
    assert_eq!(loaded.weights().unwrap(), model.weights().unwrap());

    let images = random_images(7, 1);
    let a = model.predict(&images).unwrap();
    let b = loaded.predict(&images).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.predictions.len(), 7);
    assert_eq!(a.probabilities.len(), 70);
    for row in a.probabilities.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    // Only the target is left in the folder: the temporary file was renamed over it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["model.safetensors"]);
    // Readable like any file the user creates there (not the owner-only mode of temporary files).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| p.metadata().unwrap().permissions().mode() & 0o777;
        let direct = dir.path().join("direct");
        std::fs::write(&direct, b"x").unwrap();
        assert_eq!(mode(&path), mode(&direct));
    }
}

#[test]
fn tensors_have_pytorch_names_layouts_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tutorial.safetensors");
    let model = Sequential::new(&Cpu::new(), ModelSpec::preset("tutorial").unwrap(), 0).unwrap();
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut shapes: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    shapes.sort();
    let expected = [
        ("0.bias", vec![32]),
        ("0.weight", vec![32, 1, 3, 3]),
        ("10.bias", vec![10]),
        ("10.weight", vec![10, 128]),
        ("3.bias", vec![64]),
        ("3.weight", vec![64, 32, 3, 3]),
        ("7.bias", vec![128]),
        ("7.weight", vec![128, 1600]),
    ];
    let expected: Vec<(String, Vec<usize>)> = expected
        .iter()
        .map(|(n, s)| (n.to_string(), s.clone()))
        .collect();
    assert_eq!(shapes, expected);
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().as_ref().unwrap();
    let spec = ModelSpec::from_json_str(&metadata["digits.model"], "metadata").unwrap();
    assert_eq!(&spec, model.spec());
    // Biases start at zero, weights within Glorot's limit for a 3×3 conv from 1 to 32 channels.
    let weights = model.weights().unwrap();
    assert!(weights[1].data.iter().all(|&b| b == 0.0));
    let limit = (6.0f32 / (9.0 + 288.0)).sqrt();
    assert!(
        weights[0].data.iter().all(|w| w.abs() <= limit)
            && weights[0].data.iter().any(|w| w.abs() > limit / 2.0)
    );
}

#[test]
fn another_architecture_is_a_typed_error() {
    let cpu = Cpu::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.safetensors");
    Sequential::new(&cpu, ModelSpec::preset("mlp").unwrap(), 0)
        .unwrap()
        .save(&path)
        .unwrap();
    let mut tutorial = Sequential::new(&cpu, ModelSpec::preset("tutorial").unwrap(), 0).unwrap();
    let err = tutorial.load_weights(&path).unwrap_err();
    assert!(matches!(err, NnError::Architecture { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("mlp.safetensors") && message.contains("dense(128, relu)"),
        "{message}"
    );
}

#[test]
fn truncated_and_foreign_files_are_typed_errors() {
    let cpu = Cpu::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    Sequential::new(&cpu, ModelSpec::preset("mlp").unwrap(), 0)
        .unwrap()
        .save(&path)
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        let truncated = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let err = Sequential::load(&cpu, &truncated)
            .err()
            .expect("a truncated file must not load");
        assert!(
            matches!(&err, NnError::Corrupt { path, .. } if path == &truncated),
            "{cut}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("cut{cut}.safetensors")));
    }
    // A valid safetensors file that digits did not write.
    let foreign = dir.path().join("foreign.safetensors");
    let data = [0u8; 16];
    let view = TensorView::new(Dtype::F32, vec![4], &data).unwrap();
    std::fs::write(
        &foreign,
        safetensors::serialize([("x", view)], None).unwrap(),
    )
    .unwrap();
    assert!(matches!(
        Sequential::load(&cpu, &foreign),
        Err(NnError::Corrupt { .. })
    ));
    let missing = dir.path().join("absent.safetensors");
    assert!(matches!(
        Sequential::load(&cpu, &missing),
        Err(NnError::Io { .. })
    ));
}

/// Writes a file with the mlp's metadata and the given tensors.
fn write_mlp_file(path: &Path, tensors: &[(&str, Dtype, Vec<usize>)]) {
    let spec = ModelSpec::preset("mlp").unwrap();
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, shape)| vec![0u8; shape.iter().product::<usize>() * dtype.bitsize() / 8])
        .collect();
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, dtype, shape), bytes)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let metadata = HashMap::from([("digits.model".to_string(), spec.to_json())]);
    std::fs::write(path, safetensors::serialize(views, Some(metadata)).unwrap()).unwrap();
}

#[test]
fn wrong_shapes_types_and_missing_tensors_name_the_tensor() {
    let cpu = Cpu::new();
    let dir = tempfile::tempdir().unwrap();
    let f32 = Dtype::F32;
    let good: [(&str, Dtype, Vec<usize>); 4] = [
        ("1.weight", f32, vec![128, 784]),
        ("1.bias", f32, vec![128]),
        ("3.weight", f32, vec![10, 128]),
        ("3.bias", f32, vec![10]),
    ];
    let ok = dir.path().join("ok.safetensors");
    write_mlp_file(&ok, &good);
    assert!(Sequential::load(&cpu, &ok).is_ok());

    let mut transposed = good.clone();
    transposed[2].2 = vec![128, 10];
    let path = dir.path().join("shape.safetensors");
    write_mlp_file(&path, &transposed);
    match Sequential::load(&cpu, &path) {
        Err(NnError::TensorShape {
            tensor, expected, ..
        }) => {
            assert_eq!((tensor.as_str(), expected), ("3.weight", vec![10, 128]))
        }
        other => panic!("expected a shape error, got {:?}", other.err()),
    }

    let mut half = good.clone();
    half[1].1 = Dtype::F16;
    let path = dir.path().join("dtype.safetensors");
    write_mlp_file(&path, &half);
    let err = Sequential::load(&cpu, &path).err().unwrap();
    assert!(
        matches!(&err, NnError::TensorShape { tensor, .. } if tensor == "1.bias"),
        "{err:?}"
    );
    assert!(err.to_string().contains("F16"), "{err}");

    let path = dir.path().join("missing.safetensors");
    write_mlp_file(&path, &good[..3]);
    let err = Sequential::load(&cpu, &path).err().unwrap();
    assert!(
        matches!(&err, NnError::MissingTensor { tensor, .. } if tensor == "3.bias"),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&path.display().to_string()));
}
