"""Calibration of classification probabilities: expected calibration error and temperature scaling.

Expected calibration error (ECE; Guo et al. 2017, "On Calibration of Modern Neural Networks",
ICML): the images are put in 15 equal-width bins of their top-1 confidence (the largest class
probability); ECE = sum over bins of (images in bin / images) * |accuracy in bin - mean confidence
in bin|. 0 = the confidences match how often the model is right; 0.2 = on average 20 points off.
Multi-label: the same per label on P(label) against how often the label is present, averaged.

Temperature scaling (same paper): one number T > 0 divides the network's logits before the
softmax (sigmoid for binary / multi-label), fitted by minimising the negative log-likelihood of
held-out probabilities. It never changes the arg-max class nor the ranking of images (ROC AUC):
only how confident the probabilities are. The logits are recovered from the probabilities
(log p for softmax tasks: equal to the logits up to a per-image constant the softmax ignores;
logit(p) for sigmoid tasks), so this works on any stored probabilities (oof.csv included).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

ECE_BINS = 15
T_BOUNDS = (0.05, 20.0)  # the fitted temperature is clipped to this range
CALIBRATE_METHODS = ("none", "temperature")
_EPS = 1e-12


def is_sigmoid(mode: str) -> bool:
    """Binary (one logit) and multi-label (one per label) use sigmoids; the others a softmax."""
    return mode in ("binary", "multilabel")


def logits_from_probs(probs: np.ndarray, mode: str) -> np.ndarray:
    """Logits giving `probs` back: logit(p) per column for multi-label, logit(P(class 1)) as one
    column for binary, log p for softmax tasks (up to a per-row constant)."""
    p = np.clip(np.asarray(probs, np.float64), _EPS, 1 - _EPS)
    if mode == "binary":
        p = p[:, 1:2]
    if is_sigmoid(mode):
        return np.log(p) - np.log1p(-p)
    return np.log(p)


def probs_from_logits(logits: np.ndarray, mode: str, temperature: float = 1.0) -> np.ndarray:
    """(N, C) probabilities of `logits / temperature`, laid out as the network's (binary: two
    columns)."""
    z = np.asarray(logits, np.float64) / float(temperature)
    if is_sigmoid(mode):
        p = 1.0 / (1.0 + np.exp(-z))
        return np.hstack([1 - p, p]) if mode == "binary" else p
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def apply_temperature(probs: np.ndarray, mode: str, temperature: float | None) -> np.ndarray:
    """`probs` as the network would have given them with its logits divided by `temperature`."""
    if temperature is None or float(temperature) == 1.0:
        return np.asarray(probs, np.float64)
    return probs_from_logits(logits_from_probs(probs, mode), mode, temperature)


def _target_matrix(y: np.ndarray, mode: str, n_cols: int) -> np.ndarray:
    """Targets as (N, C) floats matching `probs_from_logits`' columns."""
    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(np.float64)
    out = np.zeros((len(y), n_cols))
    out[np.arange(len(y)), y.astype(int)] = 1.0
    return out


def nll(probs: np.ndarray, y: np.ndarray, mode: str) -> float:
    """Mean negative log-likelihood: cross-entropy per image (soft targets too), or binary
    cross-entropy summed over labels (multi-label)."""
    p = np.clip(np.asarray(probs, np.float64), _EPS, 1 - _EPS)
    t = _target_matrix(y, mode, p.shape[1])
    if mode == "multilabel":
        return float(-(t * np.log(p) + (1 - t) * np.log1p(-p)).sum(axis=1).mean())
    return float(-(t * np.log(p)).sum(axis=1).mean())


def fit_temperature(probs: np.ndarray, y: np.ndarray, mode: str) -> float:
    """The temperature minimising the NLL of held-out `probs` (targets `y`: class indices or (N, C)
    label vectors), by L-BFGS-B on log T within T_BOUNDS; 1.0 when there is nothing to fit."""
    probs = np.asarray(probs, np.float64)
    if len(probs) == 0 or not np.isfinite(probs).all():
        return 1.0
    logits = logits_from_probs(probs, mode)

    def loss(log_t: np.ndarray) -> float:
        return nll(probs_from_logits(logits, mode, float(np.exp(log_t[0]))), y, mode)

    bounds = [(float(np.log(T_BOUNDS[0])), float(np.log(T_BOUNDS[1])))]
    result = minimize(loss, x0=np.zeros(1), method="L-BFGS-B", bounds=bounds)
    t = float(np.exp(result.x[0]))
    return t if loss(result.x) <= loss(np.zeros(1)) else 1.0


def _binned_gap(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Sum over equal-width confidence bins of (share of images) * |accuracy - confidence|."""
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bins are (lo, hi]; a confidence of exactly 0 goes to the first
    idx = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(total)


def reliability(probs: np.ndarray, y: np.ndarray, mode: str, bins: int = ECE_BINS):
    """Per bin of top-1 confidence (single-label): mean confidence, accuracy and image count
    (bins without images left out) — the points of a reliability diagram."""
    confidence, correct = _top1(probs, y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    rows = [
        (confidence[idx == b].mean(), correct[idx == b].mean(), int((idx == b).sum()))
        for b in range(bins)
        if (idx == b).any()
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


def _top1(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, np.float64)
    y = np.asarray(y)
    truth = y.argmax(axis=1) if y.ndim == 2 else y.astype(int)  # soft labels: arg-max class
    return p.max(axis=1), (p.argmax(axis=1) == truth).astype(np.float64)


def expected_calibration_error(
    probs: np.ndarray, y: np.ndarray, mode: str, bins: int = ECE_BINS
) -> float:
    """ECE (Guo et al. 2017) of (N, C) probabilities against targets `y`: top-1 confidence in
    `bins` equal-width bins for single-label tasks; per label (P(label) against presence),
    averaged, for multi-label."""
    probs = np.asarray(probs, np.float64)
    if len(probs) == 0:
        return float("nan")
    if mode == "multilabel":
        t = np.asarray(y, np.float64).round()
        return float(np.mean([_binned_gap(probs[:, j], t[:, j], bins) for j in range(t.shape[1])]))
    return _binned_gap(*_top1(probs, y), bins)


def calibration_summary(
    probs: np.ndarray, y: np.ndarray, mode: str, method: str, measured_on: str = "validation"
) -> dict:
    """The summary.json keys for held-out `probs` (the network's own): `ece`; with temperature
    scaling also the fitted `temperature` and `ece_calibrated`, measured on the same images T
    was fitted on (optimistic); `calibration` says how and where."""
    out = {"ece": expected_calibration_error(probs, y, mode)}
    how = {"method": method, "bins": ECE_BINS, "measured_on": measured_on, "n": len(probs)}
    if method == "temperature":
        t = fit_temperature(probs, y, mode)
        scaled = apply_temperature(probs, mode, t)
        out.update(temperature=t, ece_calibrated=expected_calibration_error(scaled, y, mode))
        how.update(
            fitted_on=measured_on,
            nll=nll(probs, y, mode),
            nll_calibrated=nll(scaled, y, mode),
            note="ece_calibrated is measured on the images T was fitted on: optimistic",
        )
    out["calibration"] = how
    return out


def calibration_text(summary: dict) -> str | None:
    """One console line: the ECE and, when temperature-scaled, T and the ECE after it, saying
    which images they were measured on."""
    if summary.get("ece") is None:
        return None
    where = (summary.get("calibration") or {}).get("measured_on", "validation")
    line = f"calibration ({where} images, {ECE_BINS} bins): ECE {summary['ece']:.4f}"
    if summary.get("temperature") is not None and "ece_calibrated" in summary:
        line += (
            f"; temperature T = {summary['temperature']:.3f} fitted on them, ECE after "
            f"{summary['ece_calibrated']:.4f} (optimistic: same images)"
        )
    return line
