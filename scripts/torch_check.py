#!/usr/bin/env python3
"""Loads a digits model file into PyTorch and checks that PyTorch computes what digits computes.

    python scripts/torch_check.py MODEL.safetensors [--data DIR] [--digits BIN] [--compare N]

The network is rebuilt from the description in the file's `digits.model` metadata, as torch.nn modules named
like the file's tensors, and the tensors are loaded with `load_state_dict(strict=True)`: every tensor the
modules hold (BatchNorm's `num_batches_tracked` included) must be in the file, and nothing else. The script
then prints the test accuracy PyTorch gets, and, given the `digits` binary, the largest difference between the
two programs' probabilities on the first N test images (`digits predict --json`).

Needs torch, numpy and safetensors (scripts/requirements.txt).
"""

import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from idx import read_idx


def test_split(data):
    def find(stem):
        for name in (stem, stem + ".gz"):
            if (data / name).is_file():
                return data / name
        sys.exit(f"{data}: no {stem}[.gz]")

    return read_idx(find("t10k-images-idx3-ubyte")), read_idx(find("t10k-labels-idx1-ubyte"))


def module_for(layer, in_shape):
    """The torch module of one layer description and the per-sample shape it outputs."""
    kind = layer["type"]
    if kind == "conv2d":
        k, stride = layer["kernel"], layer.get("stride", 1)
        pad = (k - 1) // 2 if layer.get("padding", "valid") == "same" else 0
        conv = nn.Conv2d(in_shape[0], layer["filters"], k, stride, pad, bias=layer.get("bias", True))
        h = (in_shape[1] + 2 * pad - k) // stride + 1
        w = (in_shape[2] + 2 * pad - k) // stride + 1
        return conv, [layer["filters"], h, w]
    if kind in ("max_pool2d", "avg_pool2d"):
        k = layer["pool"]
        stride = layer.get("stride") or k
        pad = layer.get("padding", 0)
        pool = nn.MaxPool2d(k, stride, pad) if kind == "max_pool2d" else nn.AvgPool2d(k, stride, pad)
        h = (in_shape[1] + 2 * pad - k) // stride + 1
        w = (in_shape[2] + 2 * pad - k) // stride + 1
        return pool, [in_shape[0], h, w]
    if kind == "flatten":
        return nn.Flatten(), [int(np.prod(in_shape))]
    if kind == "dense":
        return nn.Linear(in_shape[0], layer["units"]), [layer["units"]]
    if kind == "dropout":
        return nn.Dropout(layer["rate"]), in_shape
    if kind == "relu":
        return nn.ReLU(), in_shape
    if kind == "global_avg_pool2d":
        return nn.AdaptiveAvgPool2d(1), [in_shape[0]]
    if kind == "batch_norm":
        keras = layer.get("style", "pytorch") == "keras"
        momentum = layer.get("momentum") or (0.01 if keras else 0.1)
        eps = layer.get("eps") or (1e-3 if keras else 1e-5)
        norm = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        return norm(in_shape[0], eps=eps, momentum=momentum), in_shape
    sys.exit(f"layer type `{kind}` is not known to this script")


class DigitsGraph(nn.Module):
    """The graph of a digits description: each node reads the nodes it names (default: the one before it)."""

    def __init__(self, spec):
        super().__init__()
        self.normalization = spec.get("normalization", {"mean": 0.0, "std": 1.0})
        shapes = [list(spec["input"])]
        names = {}
        self.plan = []  # (module name, indices of the values it reads, fused ReLU)
        torch_index = 0
        for i, node in enumerate(spec["layers"]):
            kind = node["type"]
            reads = [names[n] + 1 for n in node.get("inputs", [])] or [i]
            prefix = node.get("name") or str(torch_index)
            if kind == "add":
                module, shape = None, shapes[reads[0]]
            elif kind == "concat":
                module = None
                shape = [sum(shapes[r][0] for r in reads)] + shapes[reads[0]][1:]
            elif kind == "global_avg_pool2d":
                module, shape = module_for(node, shapes[reads[0]])
                module = nn.Sequential(module, nn.Flatten())
            else:
                module, shape = module_for(node, shapes[reads[0]])
            relu = node.get("activation") == "relu"
            if module is not None:
                self.add_module(prefix, module)
            self.plan.append((prefix, kind, reads, relu))
            if node.get("name"):
                names[node["name"]] = i
            shapes.append(shape)
            torch_index += 2 if relu else 1

    def forward(self, pixels):
        x = (pixels.float() / 255.0 - self.normalization["mean"]) / self.normalization["std"]
        values = [x]
        for prefix, kind, reads, relu in self.plan:
            inputs = [values[r] for r in reads]
            if kind == "add":
                y = inputs[0] + inputs[1]
            elif kind == "concat":
                y = torch.cat(inputs, dim=1)
            else:
                y = getattr(self, prefix)(inputs[0])
            values.append(torch.relu(y) if relu else y)
        return values[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=pathlib.Path)
    parser.add_argument("--data", type=pathlib.Path, default=pathlib.Path("data/mnist"))
    parser.add_argument("--digits", help="the digits binary, to compare probabilities with")
    parser.add_argument("--compare", type=int, default=20, help="test images to compare (default 20)")
    args = parser.parse_args()

    with safe_open(args.model, "pt") as f:
        spec = json.loads(f.metadata()["digits.model"])
    net = DigitsGraph(spec)
    tensors = load_file(args.model)
    # A checkpoint also holds optimizer state, the best weights and the weights' average; the model is the
    # unprefixed tensors.
    state = {k: v for k, v in tensors.items() if not k.startswith(("optimizer.", "best.", "ema."))}
    net.load_state_dict(state, strict=True)
    net.eval()
    print(f"load_state_dict(strict=True): {len(state)} tensors, {sum(p.numel() for p in net.parameters())} parameters")

    images, labels = test_split(args.data)
    pixels = torch.from_numpy(images.copy()).reshape(len(images), *spec["input"])
    with torch.no_grad():
        logits = torch.cat([net(pixels[i : i + 1000]) for i in range(0, len(pixels), 1000)])
    probabilities = torch.softmax(logits.double(), dim=1)
    correct = int((logits.argmax(1).numpy() == labels).sum())
    print(f"PyTorch test accuracy: {correct / len(labels):.4%} ({correct}/{len(labels)})")

    if args.digits:
        count = min(args.compare, len(labels))
        command = [args.digits, "predict", "--model", str(args.model), "--data", str(args.data), "--json"]
        for i in range(count):
            command += ["--test-index", str(i)]
        answer = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        ours = np.array([p["probabilities"] for p in answer["predictions"]])
        difference = np.abs(ours - probabilities[:count].numpy()).max()
        print(f"largest probability difference from digits over {count} test images: {difference:.2e}")
        if difference > 1e-4:
            sys.exit("PyTorch and digits disagree")


if __name__ == "__main__":
    main()
