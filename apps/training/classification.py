"""Signal classification: complex I/Q clips → log-mel spectrograms → ConvNeXt.

Features are computed once per job (apps.training.spectrogram) with the job's
`n_mels`, `n_fft` and `hop_length`, standardised with the training split's
mean and deviation (kept in the bundle), and held in memory on the device.
"""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from apps.radio.simulation import SAMPLE_RATE
from apps.training.convnext import convnext
from apps.training.selection import trainable_clips
from apps.training.spectrogram import log_mel


class ClassificationPipeline:
    model_type = "signal_classification"
    dataset_type = "signals"
    input_names = ["spectrogram"]  # the ONNX export's inputs, as example_inputs gives them
    onnx_dynamic_axes: dict = {}  # clips are one length: only the batch is free

    headline_name = "accuracy"

    def __init__(self, config: dict, arrays: dict, parameters: dict, device):
        self.config, self.device = config, device
        self.classes = [str(name) for name in arrays["classes"]]
        self.snr_db = arrays["snr_db"]
        self.approved = arrays.get("approved")  # recordings datasets
        clips = self.clips = arrays["clips"]
        settings = {"n_mels": config["n_mels"], "n_fft": config["n_fft"],
                    "hop_length": config["hop_length"], "sample_rate": SAMPLE_RATE}  # fmt: skip
        # num_workers: threads computing spectrograms (torch releases the GIL).
        chunks = np.array_split(np.arange(len(clips)), max(1, config["num_workers"]))
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            parts = pool.map(lambda c: log_mel(clips[c], **settings), chunks)
            features = torch.cat(list(parts))
        self.raw_features = features
        self.labels = torch.from_numpy(arrays["labels"].astype(np.int64))
        self.feature_settings = settings
        self.normalisation: dict = {}
        self.x = self.y = None

    def fit_normalisation(self, train_idx: np.ndarray) -> None:
        """Standardise with the training split's statistics only."""
        train = self.raw_features[torch.from_numpy(train_idx)]
        mean, std = float(train.mean()), float(train.std()) or 1.0
        self.normalisation = {**self.feature_settings, "input_shape": list(
            self.raw_features.shape[1:]), "mean_db": mean, "std_db": std,
            "classes": self.classes}  # fmt: skip
        self.x = ((self.raw_features - mean) / std).to(self.device)
        self.y = self.labels.to(self.device)

    def __len__(self) -> int:
        return len(self.labels)

    def trainable_indices(self) -> np.ndarray:
        """Clips at or above the config's `min_snr_db`; NOISE clips (no signal, so no SNR)
        always count; of a recordings dataset, approved clips only when `only_approved`."""
        approved = self.approved if self.config.get("only_approved", True) else None
        return trainable_clips(self.labels.numpy(), self.snr_db, self.classes,
                               self.config["min_snr_db"], approved)  # fmt: skip

    def headline(self, model, idx: np.ndarray) -> float:
        """Validation accuracy (what decides half precision and auto-activation)."""
        vi = torch.from_numpy(idx).to(self.device)
        return float((self._predict(model, vi).argmax(-1) == self.y[vi]).float().mean())

    @staticmethod
    def half_allowed(full: float, half: float) -> bool:
        """Float16 weights when they cost at most half a percentage point of accuracy."""
        return half >= full - 0.005

    @staticmethod
    def headline_better(ours: float, theirs: float) -> bool:
        return ours > theirs

    def onnx_headline(self, session, normalisation: dict, idx: np.ndarray) -> float:
        """Another model's accuracy on these clips, through its ONNX export and its own
        features (mel settings, standardisation, class names)."""
        settings = {k: normalisation[k] for k in ("n_mels", "n_fft", "hop_length",
                                                   "sample_rate")}  # fmt: skip
        features = log_mel(self.clips[idx], **settings)
        if list(features.shape[1:]) != list(normalisation["input_shape"]):
            raise ValueError(
                f"its input is {normalisation['input_shape']}, these clips give "
                f"{list(features.shape[1:])}"
            )
        x = ((features - normalisation["mean_db"]) / normalisation["std_db"]).numpy()
        names = normalisation["classes"]
        predicted = []
        for start in range(0, len(x), 256):
            logits = session.run(None, {"spectrogram": x[start : start + 256]})[0]
            predicted += [names[k] for k in logits.argmax(-1)]
        truth = [self.classes[k] for k in self.labels[torch.from_numpy(idx)].tolist()]
        return float(np.mean([a == b for a, b in zip(predicted, truth, strict=True)]))

    def build_model(self) -> nn.Module:
        return convnext(
            self.config["model_architecture"], len(self.classes), self.config["dropout_rate"]
        )

    def batch_loss(self, model, idx):
        logits = model(self.x[idx])
        correct = (logits.argmax(-1) == self.y[idx]).sum()
        return nn.functional.cross_entropy(logits, self.y[idx]), correct

    def _predict(self, model, idx) -> torch.Tensor:
        logits = []
        with torch.no_grad():
            for start in range(0, len(idx), 256):
                logits.append(model(self.x[idx[start : start + 256]]))
        return torch.cat(logits)

    def validate(self, model, idx) -> dict:
        logits = self._predict(model, idx)
        accuracy = (logits.argmax(-1) == self.y[idx]).float().mean().item()
        return {
            "val_loss": nn.functional.cross_entropy(logits, self.y[idx]).item(),
            "val_accuracy": accuracy,
            "summary": f"val accuracy {accuracy:.1%}",
        }

    def evaluate(self, model, idx: np.ndarray) -> dict:
        """Accuracy overall, at SNR ≥ 10 dB, per class, and the confusion matrix."""
        vi = torch.from_numpy(idx).to(self.device)
        predicted = self._predict(model, vi).argmax(-1).cpu().numpy()
        truth = self.labels[torch.from_numpy(idx)].numpy()
        right = predicted == truth
        high = self.snr_db[idx] >= 10
        confusion = np.zeros((len(self.classes), len(self.classes)), dtype=int)
        np.add.at(confusion, (truth, predicted), 1)
        per_class = {
            name: round(float(right[truth == k].mean()), 4) if (truth == k).any() else None
            for k, name in enumerate(self.classes)
        }
        return {
            "accuracy": round(float(right.mean()), 4),
            "accuracy_snr_ge_10db": round(float(right[high].mean()), 4) if high.any() else None,
            "samples_snr_ge_10db": int(high.sum()),
            "per_class_accuracy": per_class,
            "confusion_matrix": confusion.tolist(),
            "classes": self.classes,
        }

    def example_inputs(self, idx: np.ndarray) -> tuple:
        return (self.x[torch.from_numpy(idx).to(self.device)],)

    @staticmethod
    def better(metrics: dict, than: dict) -> bool:
        return metrics.get("accuracy", -math.inf) > than.get("accuracy", -math.inf)
