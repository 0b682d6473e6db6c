"""Loaders for benchmarks/gpu.sh that decode JPEGs on the GPU: the workers only read the files'
bytes; torchvision.io.decode_jpeg decodes a whole batch at once (nvJPEG on device="cuda", libjpeg
on "cpu" for the CPU smoke run), then resize, flip and normalise run on the device too. DALI's
pipeline (mixed decoding) where nvidia-dali is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class JpegBytes(Dataset):
    """The encoded file and its class index: all a worker does."""

    def __init__(self, paths: Sequence[str], targets: Sequence[int]):
        self.paths, self.targets = list(paths), list(targets)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from torchvision.io import read_file

        return read_file(self.paths[i]), self.targets[i]


def collate_bytes(items: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One uint8 tensor of all the files' bytes, their lengths and the labels: a worker hands
    the main process three tensors a batch (one shared-memory handle each), not one per file."""
    datas = [data for data, _ in items]
    lengths = torch.tensor([len(d) for d in datas])
    return torch.cat(datas), lengths, torch.tensor([t for _, t in items])


def decode_batch(
    datas: list[torch.Tensor], size: int, device: str, gen: torch.Generator
) -> torch.Tensor:
    """One batch of encoded JPEGs -> normalised float images size x size, randomly flipped,
    channels-last, on `device` (the work `ImageDataset` + albumentations does in the workers)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    imgs = decode_jpeg(datas, mode=ImageReadMode.RGB, device=device)

    def resize(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.float(), (size, size), mode="bilinear", antialias=True)

    if len({tuple(im.shape) for im in imgs}) == 1:  # one kernel for the batch
        x = resize(torch.stack(imgs))
    else:
        x = torch.cat([resize(im[None]) for im in imgs])
    flip = (torch.rand(len(x), generator=gen) < 0.5).to(device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1) * 255
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def gpu_decode_batches(
    paths: Sequence[str],
    targets: Sequence[int],
    *,
    size: int,
    batch: int,
    workers: int,
    device: str,
) -> Callable[[], Iterator]:
    """A function giving one epoch of (images on `device`, labels) per call."""
    loader = DataLoader(
        JpegBytes(paths, targets),
        batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate_bytes,
    )
    gen = torch.Generator().manual_seed(0)

    def epoch() -> Iterator:
        for blob, lengths, y in loader:
            datas = list(torch.split(blob, lengths.tolist()))
            yield decode_batch(datas, size, device, gen), y.to(device, non_blocking=True)

    return epoch


def dali_batches(root, *, size: int, batch: int, workers: int) -> Callable[[], Iterator]:
    """DALI's file reader + mixed (nvJPEG) decoder + resize + flip/normalise, one epoch a call.
    Raises ImportError where nvidia-dali is not installed."""
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

    @pipeline_def(batch_size=batch, num_threads=max(workers, 1), device_id=0)
    def pipe():
        jpegs, labels = fn.readers.file(file_root=str(root), random_shuffle=True, name="files")
        images = fn.decoders.image(jpegs, device="mixed", output_type=types.RGB)
        images = fn.resize(images, resize_x=size, resize_y=size)
        images = fn.crop_mirror_normalize(
            images,
            dtype=types.FLOAT,
            output_layout="CHW",
            mean=[m * 255 for m in MEAN],
            std=[s * 255 for s in STD],
            mirror=fn.random.coin_flip(),
        )
        return images, labels.gpu()

    p = pipe()
    p.build()
    it = DALIGenericIterator(
        [p], ["x", "y"], reader_name="files", last_batch_policy=LastBatchPolicy.DROP,
        auto_reset=True,
    )  # fmt: skip

    def epoch() -> Iterator:
        for out in it:
            x = out[0]["x"].contiguous(memory_format=torch.channels_last)
            yield x, out[0]["y"].view(-1).long()

    return epoch
