"""The model zoo, the model spec and checkpoint loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from imgclf.errors import ConfigError, StaleArtifactError
from imgclf.models import ModelSpec, build_network, preprocess
from imgclf.models.architectures import auto_depth, auto_width
from imgclf.models.checkpoint import load_classifier
from imgclf.models.transfer import freeze_backbone, load_pretrained
from imgclf.models.weight_init import init_weights

torch.set_num_threads(1)

ARCHES = ["mlp", "cnn", "vgg", "resnet", "timm:test_resnet"]


def make_spec(
    arch: str = "cnn", channels: int = 1, size: int = 8, classes: int = 3, **kw
) -> ModelSpec:
    values = dict(arch=arch, width=8, depth=2, dropout=0.1, in_channels=channels)
    values.update(
        num_classes=classes, image_size=size, class_names=[f"c{i}" for i in range(classes)]
    )
    values.update(mean=[0.5] * channels, std=[0.25] * channels)
    values.update(kw)
    return ModelSpec(**values)


def save_checkpoint(net: nn.Module, spec: ModelSpec, path) -> None:
    """The two entries of a train-stage checkpoint that loading relies on."""
    state = {f"net.{key}": value for key, value in net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"spec": spec.to_dict()}}, path)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 8), (1, 16), (3, 28)])
def test_every_network_maps_images_to_one_logit_per_class(arch, channels, size):
    net = build_network(make_spec(arch, channels, size, classes=5)).eval()
    with torch.no_grad():
        logits = net(torch.randn(2, channels, size, size))
    assert logits.shape == (2, 5)
    assert isinstance(net.head, nn.Module)


@pytest.mark.parametrize("depth", [1, 4])
def test_depth_adds_layers_and_small_maps_are_not_pooled_away(depth):
    net = build_network(make_spec("resnet", depth=depth)).eval()
    assert net(torch.randn(1, 1, 8, 8)).shape == (1, 3)


def test_unknown_architecture_is_a_config_error():
    with pytest.raises(ConfigError, match="model.name"):
        build_network(make_spec("transformer"))
    with pytest.raises(ConfigError, match="timm has no such"):
        build_network(make_spec("timm:not_a_model_at_all"))


def test_spec_round_trips_through_a_plain_dict():
    spec = make_spec("vgg", 3)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert isinstance(spec.to_dict()["mean"], list)


def test_preprocess_scales_then_standardises_per_channel():
    spec = make_spec(channels=3, size=2, mean=[0.0, 0.5, 1.0], std=[1.0, 0.5, 0.25])
    images = np.full((1, 2, 2, 3), 255, dtype=np.uint8)
    out = preprocess(images, spec)
    assert out.shape == (1, 3, 2, 2) and out.dtype == torch.float32
    assert out[0, :, 0, 0].tolist() == pytest.approx([1.0, 1.0, 0.0])


def test_preprocess_accepts_grayscale_without_a_channel_axis():
    out = preprocess(np.zeros((4, 8, 8), dtype=np.uint8), make_spec())
    assert out.shape == (4, 1, 8, 8)
    assert out.unique().tolist() == pytest.approx([-2.0])


def test_preprocess_refuses_images_of_another_size():
    with pytest.raises(ValueError, match="do not match"):
        preprocess(np.zeros((1, 16, 16), dtype=np.uint8), make_spec())


@pytest.mark.parametrize("scheme", ["kaiming", "xavier"])
def test_init_schemes_reinitialise_weights_and_zero_biases(scheme):
    torch.manual_seed(0)
    net = build_network(make_spec("mlp"))
    before = net.head[1].weight.clone()
    init_weights(net, scheme)
    assert not torch.equal(before, net.head[1].weight)
    assert torch.count_nonzero(net.head[1].bias) == 0


def test_default_init_leaves_weights_alone():
    net = build_network(make_spec("cnn"))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    init_weights(net, "default")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_load_classifier_rebuilds_the_network_in_eval_mode(tmp_path):
    spec = make_spec("resnet", 3, 16)
    net = build_network(spec).eval()
    save_checkpoint(net, spec, tmp_path / "model.ckpt")
    loaded = load_classifier(tmp_path / "model.ckpt")
    images = torch.randn(2, 3, 16, 16)
    assert loaded.spec == spec and not loaded.net.training
    assert torch.equal(loaded.net(images), net(images))


def test_load_classifier_refuses_pickled_objects(tmp_path):
    torch.save({"state_dict": {}, "hyper_parameters": {"spec": object()}}, tmp_path / "bad.ckpt")
    with pytest.raises(StaleArtifactError, match="weights-only"):
        load_classifier(tmp_path / "bad.ckpt")


def test_init_from_copies_matching_layers_and_keeps_a_fresh_head(tmp_path):
    source_spec = make_spec("cnn", classes=3)
    source = build_network(source_spec)
    save_checkpoint(source, source_spec, tmp_path / "source.ckpt")
    target = build_network(make_spec("cnn", classes=5))
    skipped = load_pretrained(target, str(tmp_path / "source.ckpt"))
    assert skipped == ["head.1.bias", "head.1.weight"]
    assert torch.equal(target.backbone[0][0].weight, source.backbone[0][0].weight)


def test_init_from_an_mlflow_uri_reads_the_served_safetensors_weights(tmp_path):
    from safetensors.torch import save_file

    source = build_network(make_spec("vgg"))
    (tmp_path / "model" / "artifacts").mkdir(parents=True)
    # As the logged model does (serving/bundle.py): safetensors stores contiguous tensors only.
    state = {key: value.contiguous() for key, value in source.state_dict().items()}
    save_file(state, str(tmp_path / "model" / "artifacts" / "weights.safetensors"))
    target = build_network(make_spec("vgg"))
    assert load_pretrained(target, (tmp_path / "model").as_uri()) == []
    assert torch.equal(target.head[1].weight, source.head[1].weight)


def test_init_from_another_architecture_is_a_config_error(tmp_path):
    spec = make_spec("mlp")
    save_checkpoint(build_network(spec), spec, tmp_path / "mlp.ckpt")
    with pytest.raises(ConfigError, match="no layer matches"):
        load_pretrained(build_network(make_spec("resnet")), str(tmp_path / "mlp.ckpt"))


@pytest.mark.parametrize("arch", ["cnn", "timm:test_resnet"])
def test_freeze_backbone_leaves_only_the_head_trainable(arch):
    net = build_network(make_spec(arch))
    freeze_backbone(net)
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    head = {id(p) for p in net.head.parameters()}
    assert trainable and all(id(p) in head for n, p in net.named_parameters() if n in trainable)
    assert len(trainable) == len(head)


def conv_multiply_adds(net: nn.Module, channels: int, size: int) -> int:
    """Multiply-adds of every convolution for one image."""
    total = 0

    def count(module: nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.in_channels // module.groups * module.kernel_size[0] ** 2
        total += output[0].numel() * per_output

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net.eval()(torch.zeros(1, channels, size, size))
    for hook in hooks:
        hook.remove()
    return total


def test_auto_width_keeps_digits_and_fashion_at_32_and_narrows_photos():
    assert [auto_width(size) for size in (8, 28, 32, 64, 128, 224)] == [32, 32, 32, 16, 8, 8]


def test_auto_width_and_depth_keep_a_64px_photo_within_3x_the_cost_of_a_fashion_image():
    def cost(channels: int, size: int) -> int:
        spec = make_spec(
            "cnn", channels, size, classes=10, width=auto_width(size), depth=auto_depth(size)
        )
        return conv_multiply_adds(build_network(spec), channels, size)

    fashion, photo = cost(1, 28), cost(3, 64)
    assert photo <= 3 * fashion, (photo, fashion)
    # What width 32 would have cost at 64 px: the epoch that did not fit in the time.
    wide = make_spec("cnn", 3, 64, classes=10, width=32, depth=auto_depth(64))
    assert conv_multiply_adds(build_network(wide), 3, 64) > 3.5 * photo


@pytest.mark.parametrize(("channels", "size"), [(1, 8), (1, 28), (3, 64)])
def test_kaiming_init_starts_near_the_uniform_guess(channels, size):
    # Logits far from zero at the start make the first epochs unlearn them; with the head
    # scaled by its fan-out, a 64 px photo CNN sat at chance for most of its epochs.
    torch.manual_seed(0)
    spec = make_spec(
        "cnn", channels, size, classes=10, width=auto_width(size), depth=auto_depth(size)
    )
    net = build_network(spec)
    init_weights(net, "kaiming")
    with torch.no_grad():
        logits = net.eval()(torch.randn(64, channels, size, size))
    loss = nn.functional.cross_entropy(logits, torch.randint(0, 10, (64,)))
    assert loss < 1.5 * np.log(10), float(loss)
