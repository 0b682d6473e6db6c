"""`export --embed-preprocessing`: an ONNX graph that takes one decoded image as it is, uint8
(height, width, channels) of any height and width, and holds the run's resize and normalisation
in front of the network, so a consumer only decodes (EXIF orientation applied, the run's channel
count) and calls the graph. Output: the probabilities of that one image, (1, ...).

How each step of `data/preprocess.py` is expressed (export.json's `embedded_preprocessing`):

- squash / pad / crop: the sizes, offsets and padding are computed in the graph from the input's
  shape with the same arithmetic (floor, round half to even as Python's `round`).
- area (OpenCV INTER_AREA): two matrix products whose weights are each output pixel's overlap with
  the input pixels (what INTER_AREA computes, shrinking or enlarging); exact up to rounding.
- nearest (Pillow): Gather at Pillow's source pixels (its centres summed up in double).
- bilinear / bicubic (Pillow): ONNX Resize (opset 18) with Pillow's conventions: half pixel
  centres, antialiasing when shrinking, cubic a = -0.5, weights renormalised at the border.
- lanczos: ONNX Resize has no Lanczos filter; bicubic with antialiasing stands in for it (not
  exact; the agreement check says how close).
- after the resize the pixels are rounded and clipped to 0..255 (the resamplers return uint8),
  then x = (pixel / 255 - mean) / std, channels first.
"""

from __future__ import annotations

import numpy as np

from visionfit.data.preprocess import Preprocess, scale_size
from visionfit.errors import ExportError

IMAGE_INPUT = "image"
MIN_OPSET = 18  # Resize's antialias attribute


def embedded_steps(pre: Preprocess, in_chans: int) -> dict:
    """What the graph does before the network (export.json)."""
    exact = {
        "area": "to rounding: +-1 grey level in a few pixels",
        "nearest": "yes: the source pixels Pillow picks",
        "lanczos": "no: an approximation (ONNX has no Lanczos filter)",
    }.get(
        pre.interpolation,
        "close: Pillow's fixed-point resampling differs by +-1 grey level in many pixels, "
        "more near the border when enlarging",
    )
    how = {
        "area": "area weights (matrix products), as OpenCV INTER_AREA",
        "lanczos": "ONNX Resize cubic (a=-0.5) with antialias, standing in for Pillow lanczos",
    }.get(pre.interpolation, f"ONNX Resize {pre.interpolation} as Pillow (antialias)")
    return {
        "input": f"uint8 (height, width, {in_chans}): one decoded image, any size",
        "resize": pre.resize,
        "img_size": pre.img_size,
        "crop_pct": pre.crop_pct if pre.resize == "crop" else None,
        "interpolation": pre.interpolation,
        "resampling": how,
        "exact": exact,
        "round_and_clip": True,
        "normalise": {"mean": list(pre.mean), "std": list(pre.std), "scale": 255.0},
        "consumer_does": "decode (EXIF orientation applied, "
        f"{in_chans} channel(s)) to a uint8 array; nothing else",
    }


class _Graph:
    """A small helper to add nodes and constants with unique names."""

    def __init__(self):
        from onnx import helper

        self.helper, self.nodes, self.inits, self.n = helper, [], [], 0

    def name(self, stem: str) -> str:
        self.n += 1
        return f"pre_{stem}_{self.n}"

    def const(self, value, dtype) -> str:
        from onnx import numpy_helper

        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def preprocessing_model(pre: Preprocess, in_chans: int, opset: int, out_name: str):
    """The ONNX model: uint8 (H, W, C) `image` -> normalised float (1, C, s, s) `out_name`."""
    from onnx import TensorProto, helper

    g = _Graph()
    x = g.op("Cast", IMAGE_INPUT, to=TensorProto.FLOAT)
    x = g.op("Unsqueeze", g.op("Transpose", x, perm=[2, 0, 1]), g.const([0], np.int64))
    shape = g.op("Shape", x)
    h = g.op("Gather", shape, g.const(2, np.int64))
    w = g.op("Gather", shape, g.const(3, np.int64))
    nh, nw = _target_size(g, pre, h, w)
    x = _resample(g, pre, x, nh, nw, in_chans)
    x = g.op("Clip", g.op("Round", x), g.const(0.0, np.float32), g.const(255.0, np.float32))
    x = _place(g, pre, x, nh, nw)
    mean = np.asarray(pre.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(pre.std, np.float32).reshape(1, -1, 1, 1)
    x = g.op("Div", x, g.const(255.0, np.float32))
    x = g.op("Div", g.op("Sub", x, g.const(mean, np.float32)), g.const(std, np.float32))
    g.nodes.append(helper.make_node("Identity", [x], [out_name]))
    s = pre.img_size
    graph = helper.make_graph(
        g.nodes,
        "visionfit_preprocess",
        [
            helper.make_tensor_value_info(
                IMAGE_INPUT, TensorProto.UINT8, ["height", "width", in_chans]
            )
        ],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [1, in_chans, s, s])],
        initializer=g.inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _target_size(g: _Graph, pre: Preprocess, h: str, w: str) -> tuple[str, str]:
    """(height, width) after the resize, int64 scalars, as data/transforms._fit_square."""
    from onnx import TensorProto

    s = pre.img_size
    if pre.resize == "squash":
        return g.const(s, np.int64), g.const(s, np.int64)
    hd, wd = (g.op("Cast", v, to=TensorProto.DOUBLE) for v in (h, w))
    if pre.resize == "pad":  # max(1, round(side * s / max(h, w)))
        scale = g.op("Div", g.const(float(s), np.float64), g.op("Max", hd, wd))
        one = g.const(1.0, np.float64)
        nh, nw = (g.op("Max", one, g.op("Round", g.op("Mul", v, scale))) for v in (hd, wd))
    else:  # crop: shorter side to floor(s / crop_pct), the other int(short * long / shorter)
        short = g.const(float(scale_size(s, pre.crop_pct)), np.float64)
        cond = g.op("LessOrEqual", wd, hd)
        nh = g.op("Where", cond, g.op("Floor", g.op("Div", g.op("Mul", short, hd), wd)), short)
        nw = g.op("Where", cond, short, g.op("Floor", g.op("Div", g.op("Mul", short, wd), hd)))
    return g.op("Cast", nh, to=TensorProto.INT64), g.op("Cast", nw, to=TensorProto.INT64)


def _resample(g: _Graph, pre: Preprocess, x: str, nh: str, nw: str, in_chans: int) -> str:
    if pre.interpolation == "area":
        wh = _area_weights(g, g.op("Gather", g.op("Shape", x), g.const(2, np.int64)), nh)
        ww = _area_weights(g, g.op("Gather", g.op("Shape", x), g.const(3, np.int64)), nw)
        x = g.op("MatMul", wh, x)  # (nh, H) @ (1, C, H, W)
        return g.op("MatMul", x, g.op("Transpose", ww, perm=[1, 0]))
    if pre.interpolation == "nearest":  # Pillow: source index floor((i + 0.5) * in / out)
        for axis, n_out in ((2, nh), (3, nw)):
            n_in = g.op("Gather", g.op("Shape", x), g.const(axis, np.int64))
            x = g.op("Gather", x, _nearest_index(g, n_in, n_out), axis=axis)
        return x
    sizes = g.op(
        "Concat",
        g.const([1, in_chans], np.int64),
        g.op("Unsqueeze", nh, g.const([0], np.int64)),
        g.op("Unsqueeze", nw, g.const([0], np.int64)),
        axis=0,
    )
    attrs = {"coordinate_transformation_mode": "half_pixel"}
    if pre.interpolation == "bilinear":
        attrs.update(mode="linear", antialias=1)
    else:  # bicubic; lanczos approximated
        attrs.update(mode="cubic", antialias=1, cubic_coeff_a=-0.5, exclude_outside=1)
    return g.op("Resize", x, "", "", sizes, **attrs)


def _nearest_index(g: _Graph, n_in: str, n_out: str) -> str:
    """int64 (n_out,) source indices as Pillow's NEAREST picks them: the centre starts at
    scale / 2 and moves by scale = n_in / n_out, added up in double (a cumulative sum; the
    rounding of that sum decides which pixel an exact .0 centre takes), floored."""
    from onnx import TensorProto

    fin, fout = (g.op("Cast", v, to=TensorProto.DOUBLE) for v in (n_in, n_out))
    scale = g.op("Div", fin, fout)
    first = _vec1(g, g.op("Mul", scale, g.const(0.5, np.float64)))
    rest = g.op("Expand", scale, _vec1(g, g.op("Sub", n_out, g.const(1, np.int64))))
    centres = g.op("CumSum", g.op("Concat", first, rest, axis=0), g.const(0, np.int64))
    last = g.op("Sub", fin, g.const(1.0, np.float64))
    return g.op("Cast", g.op("Min", g.op("Floor", centres), last), to=TensorProto.INT64)


def _area_weights(g: _Graph, n_in: str, n_out: str) -> str:
    """(n_out, n_in) float weights: each output pixel's overlap with each input pixel, over its
    footprint's length r = n_in / n_out (rows sum to 1)."""
    from onnx import TensorProto

    fin, fout = (g.op("Cast", v, to=TensorProto.FLOAT) for v in (n_in, n_out))
    r = g.op("Div", fin, fout)
    zero, one = g.const(0, np.int64), g.const(1, np.int64)
    i = g.op("Cast", g.op("Range", zero, n_out, one), to=TensorProto.FLOAT)
    j = g.op("Cast", g.op("Range", zero, n_in, one), to=TensorProto.FLOAT)
    col = g.const([1], np.int64)
    lo = g.op("Unsqueeze", g.op("Mul", i, r), col)
    onef = g.const(1.0, np.float32)
    hi = g.op("Unsqueeze", g.op("Mul", g.op("Add", i, onef), r), col)
    overlap = g.op("Sub", g.op("Min", g.op("Add", j, onef), hi), g.op("Max", j, lo))
    return g.op("Div", g.op("Relu", overlap), r)


def _place(g: _Graph, pre: Preprocess, x: str, nh: str, nw: str) -> str:
    """crop: the centre img_size square; pad: a centred img_size square with 0."""
    if pre.resize == "squash":
        return x
    s = g.const(pre.img_size, np.int64)
    if pre.resize == "crop":  # int(round((n - s) / 2.0)), half to even
        from onnx import TensorProto

        def offset(n):
            d = g.op("Cast", g.op("Sub", n, s), to=TensorProto.DOUBLE)
            half = g.op("Div", d, g.const(2.0, np.float64))
            return g.op("Cast", g.op("Round", half), to=TensorProto.INT64)

        top, left = offset(nh), offset(nw)
        starts = _vec(g, top, left)
        ends = g.op("Add", starts, g.op("Concat", *(_vec1(g, s),) * 2, axis=0))
        return g.op("Slice", x, starts, ends, g.const([2, 3], np.int64))
    if pre.resize == "pad":
        two = g.const(2, np.int64)
        top = g.op("Div", g.op("Sub", s, nh), two)  # int64 division: floor for >= 0
        left = g.op("Div", g.op("Sub", s, nw), two)
        bottom = g.op("Sub", g.op("Sub", s, nh), top)
        right = g.op("Sub", g.op("Sub", s, nw), left)
        zero2 = g.const([0, 0], np.int64)
        pads = g.op("Concat", zero2, _vec(g, top, left), zero2, _vec(g, bottom, right), axis=0)
        return g.op("Pad", x, pads, g.const(0.0, np.float32), mode="constant")
    return x


def _vec1(g: _Graph, v: str) -> str:
    return g.op("Unsqueeze", v, g.const([0], np.int64))


def _vec(g: _Graph, a: str, b: str) -> str:
    return g.op("Concat", _vec1(g, a), _vec1(g, b), axis=0)


def embed_into(path, pre: Preprocess, meta: dict, input_name: str) -> None:
    """Replace the network graph at `path` by preprocessing + network and say so in `meta`
    (export.json: input, output shape, `embedded_preprocessing`)."""
    if pre.intensity is not None:  # the embedded graph reads uint8 pixels, never values
        raise ExportError(
            "--embed-preprocessing takes 8-bit images, and this run maps 16-bit or float values "
            f"({pre.intensity.describe()}): export without it and apply export.json's preprocess"
        )
    in_chans = int(meta["in_chans"])
    try:
        embed(path, pre, in_chans, path, input_name)
    except Exception as e:  # onnx's checker and composer raise their own types
        text = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise ExportError(f"cannot embed the preprocessing in the ONNX graph: {text}") from None
    meta["input"] = {"name": IMAGE_INPUT, "dtype": "uint8", "shape": ["height", "width", in_chans]}
    meta["output"]["shape"] = [1, *meta["output"]["shape"][1:]]
    meta["embedded_preprocessing"] = embedded_steps(pre, in_chans)


def embed(model_path, pre: Preprocess, in_chans: int, out_path, input_name: str) -> None:
    """Write `out_path`: the preprocessing graph in front of the exported network graph at
    `model_path` (whose input is `input_name`), checked by onnx.checker."""
    import onnx
    from onnx import compose

    net = onnx.load(str(model_path))
    opset = next(o.version for o in net.opset_import if o.domain in ("", "ai.onnx"))
    pre_model = preprocessing_model(pre, in_chans, opset, "pre_output")
    pre_model.ir_version = net.ir_version
    merged = compose.merge_models(pre_model, net, io_map=[("pre_output", input_name)])
    onnx.checker.check_model(merged)
    onnx.save(merged, str(out_path))
