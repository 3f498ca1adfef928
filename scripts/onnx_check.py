#!/usr/bin/env python3
"""Checks an ONNX file written by `digits export` with the ONNX checker and ONNX Runtime.

    python scripts/onnx_check.py MODEL.onnx --model MODEL.safetensors --digits BIN [--data DIR] [--count N]

1. `onnx.checker.check_model(full_check=True)`: the file is valid ONNX and its shapes infer.
2. ONNX Runtime (CPU) runs it on the first N test images (all by default), fed as the export documents:
   float32 [batch, 1, 28, 28], pixels / 255, in batches of several sizes (the batch dimension is dynamic).
3. `digits predict --json` computes the same images; the predicted digits must be identical and the outputs
   (logits, or probabilities for a graph ending in a softmax) within --tolerance (default 1e-4) absolute.

Prints one JSON line with what it measured and exits 1 when a check fails. Needs onnx, onnxruntime and numpy
(scripts/requirements.txt).
"""

import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime

from idx import read_idx

# `digits predict` takes test indices on its command line: this many per call keeps the line short.
CHUNK = 1000


def test_images(data):
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        if (data / name).is_file():
            return read_idx(data / name)
    sys.exit(f"{data}: no t10k-images-idx3-ubyte[.gz]")


def onnx_runtime_outputs(path, images):
    """ONNX Runtime's output for `images` (u8 [n, 28, 28]), run in uneven batches."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (input_info,) = session.get_inputs()
    (output_info,) = session.get_outputs()
    x = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    outputs, start, batches = [], 0, [1, 7, 256, 1000]
    while start < len(x):
        size = batches[len(outputs) % len(batches)]
        outputs.append(session.run([output_info.name], {input_info.name: x[start : start + size]})[0])
        start += size
    return output_info.name, np.concatenate(outputs)


def digits_outputs(binary, model, data, count, field):
    """What `digits predict --json` gives for the first `count` test images: `field` per image."""
    rows = []
    for start in range(0, count, CHUNK):
        command = [binary, "predict", "--model", str(model), "--data", str(data), "--json"]
        for index in range(start, min(start + CHUNK, count)):
            command += ["--test-index", str(index)]
        answer = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        rows += [p[field] for p in answer["predictions"]]
    return np.array(rows, dtype=np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx_file", type=pathlib.Path)
    parser.add_argument("--model", type=pathlib.Path, required=True, help="the model file it was exported from")
    parser.add_argument("--digits", required=True, help="the digits binary")
    parser.add_argument("--data", type=pathlib.Path, default=pathlib.Path("data/mnist"))
    parser.add_argument("--count", type=int, default=None, help="test images to compare (default: all)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    model = onnx.load(str(args.onnx_file))
    onnx.checker.check_model(model, full_check=True)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))

    images = test_images(args.data)
    count = len(images) if args.count is None else min(args.count, len(images))
    name, ours = onnx_runtime_outputs(args.onnx_file, images[:count])
    field = "probabilities" if name == "probabilities" else "logits"
    reference = digits_outputs(args.digits, args.model, args.data, count, field)
    if ours.shape != reference.shape:
        sys.exit(f"ONNX Runtime gave {ours.shape}, digits {reference.shape}")

    differ = int(np.sum(ours.argmax(axis=1) != reference.argmax(axis=1)))
    worst = float(np.max(np.abs(ours - reference)))
    report = {
        "file": str(args.onnx_file),
        "opset": opset,
        "onnxruntime": onnxruntime.__version__,
        "output": name,
        "images": count,
        "predictions_differ": differ,
        "max_abs_difference": worst,
        "tolerance": args.tolerance,
    }
    print(json.dumps(report))
    if differ or worst > args.tolerance:
        sys.exit(f"{args.onnx_file}: {differ} predictions differ, largest difference {worst:.3g}")


if __name__ == "__main__":
    main()
