import inspect
import math

import pytest
import torch

from core.model import Denoiser, ModelConfig, SeededDropout

CATS = [2, 5, 3, 5]  # V = 5, mask id 5


def make_model(seed=0, **kw):
    torch.manual_seed(seed)
    return Denoiser(ModelConfig(num_categories=CATS, d_model=32, n_layers=2, n_heads=4, **kw)).eval()


def random_z(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.stack([torch.randint(k, (n,), generator=g) for k in CATS], 1)  # [n, L]
    mask = torch.rand(z.shape, generator=g) < 0.5
    return torch.where(mask, torch.full_like(z, 5), z)


def test_config_properties():
    cfg = ModelConfig(num_categories=CATS)
    assert (cfg.length, cfg.vocab_size, cfg.mask_id) == (4, 5, 5)


def test_output_shape_dtype_and_invalid_categories_are_minus_inf():
    model = make_model()
    assert (model.vocab_size, model.mask_id) == (5, 5)
    logits = model(random_z(7))
    assert logits.shape == (7, 4, 5) and logits.dtype == torch.float32
    for l, k in enumerate(CATS):
        assert torch.isfinite(logits[:, l, :k]).all()
        assert (logits[:, l, k:] == -math.inf).all()
    probs = torch.softmax(logits, -1)
    assert torch.allclose(probs.sum(-1), torch.ones(7, 4))
    assert (probs[:, 0, 2:] == 0).all()


def test_bidirectional_later_token_changes_earlier_logits():
    model = make_model()
    z = torch.full((1, 4), 5)  # all masked
    z2 = z.clone()
    z2[0, 3] = 1  # reveal the last position
    out, out2 = model(z), model(z2)
    assert not torch.allclose(out[0, 0], out2[0, 0])
    # and an earlier token changes a later position's logits
    z3 = z.clone()
    z3[0, 0] = 1
    assert not torch.allclose(out[0, 3], model(z3)[0, 3])


def test_time_agnostic_and_deterministic_in_eval():
    model = make_model()
    z = random_z(5)
    assert torch.equal(model(z), model(z))
    assert list(inspect.signature(model.forward).parameters) == ["z"]


def test_batch_permutation_gives_permuted_outputs():
    model = make_model()
    z = random_z(9)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(1))
    out = model(z)
    assert torch.allclose(model(z[perm]), out[perm], atol=1e-5)


def test_rows_do_not_interact():
    model = make_model()
    z = random_z(6)
    single = torch.cat([model(z[i:i + 1]) for i in range(6)])
    assert torch.allclose(model(z), single, atol=1e-5)


def test_wrong_length_input_raises():
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        make_model()(torch.zeros(2, 3, dtype=torch.long))


def test_gradients_reach_every_parameter():
    model = make_model().train()
    logits = model(random_z(8))
    logits[torch.isfinite(logits)].sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_state_shapes_and_num_params_match_the_built_model():
    for cfg in [ModelConfig(CATS), ModelConfig([3] * 10, d_model=48, n_layers=3, n_heads=6)]:
        state = Denoiser(cfg).state_dict()
        assert cfg.state_shapes() == {k: tuple(v.shape) for k, v in state.items()}
        assert all(v.dtype == torch.float32 for v in state.values())
        assert cfg.num_params() == sum(p.numel() for p in Denoiser(cfg).parameters())


def test_autocast_logits_are_float32():
    model = make_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(random_z(3))
    assert logits.dtype == torch.float32
    assert (logits[:, 0, 2:] == -math.inf).all()


@pytest.mark.parametrize("field, kwargs", [
    ("num_categories", dict(num_categories=[])),
    ("num_categories", dict(num_categories=[2] * 4097)),
    (r"num_categories\[1\]", dict(num_categories=[2, 1])),
    (r"num_categories\[0\]", dict(num_categories=[5000])),
    (r"num_categories\[0\]", dict(num_categories=["3"])),
    ("d_model", dict(num_categories=[2], d_model=4)),
    ("d_model", dict(num_categories=[2], d_model=10**9)),
    ("divisible", dict(num_categories=[2], d_model=30, n_heads=4)),
    ("n_layers", dict(num_categories=[2], n_layers=0)),
    ("n_layers", dict(num_categories=[2], n_layers=49)),
    ("n_heads", dict(num_categories=[2], n_heads=65)),
    ("dropout", dict(num_categories=[2], dropout=1.0)),
    ("dropout", dict(num_categories=[2], dropout=-0.1)),
    ("dropout", dict(num_categories=[2], dropout=float("nan"))),
    ("too large", dict(num_categories=[4096] * 4096, d_model=2048, n_layers=48, n_heads=64)),
])
def test_validate_names_the_bad_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**kwargs).validate()


def test_from_dict_round_trip_and_rejects_unknown_fields():
    cfg = ModelConfig(CATS, d_model=32, dropout=0.1)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model config field"):
        ModelConfig.from_dict({**cfg.to_dict(), "evil": 1})
    with pytest.raises(ValueError, match="num_categories"):
        ModelConfig.from_dict({"d_model": 32})


def test_every_from_dict_refuses_unknown_fields_and_non_objects():
    from core.meta import DataMeta
    from core.train import TrainConfig

    meta = dict(name="toy", params={}, num_categories=[2, 2], position_names=["a", "b"])
    for cls, good in ((ModelConfig, {"num_categories": [2, 2]}), (DataMeta, meta), (TrainConfig, {})):
        cls.from_dict(good)
        with pytest.raises(ValueError, match="unknown .* field"):
            cls.from_dict({**good, "evil": 1})
        with pytest.raises(ValueError, match="must be a JSON object"):
            cls.from_dict([1, 2])


def test_seeded_dropout_is_unbiased_reproducible_and_off_in_eval():
    n, p = 200_000, 0.2
    x = torch.ones(n)
    drop = SeededDropout(p).train()
    drop.generator = torch.Generator().manual_seed(3)
    y = drop(x)
    # fraction dropped ~ p with s.e. sqrt(p(1-p)/n); the mean stays 1 with s.e. sqrt(p/((1-p)n)); 5 s.e.
    assert abs((y == 0).float().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert abs(y.mean().item() - 1.0) < 5 * math.sqrt(p / ((1 - p) * n))
    drop.generator = torch.Generator().manual_seed(3)
    assert torch.equal(drop(x), y)  # the same seed, the same mask
    assert torch.equal(drop.eval()(x), x)


def test_model_dropout_follows_its_seed_and_the_written_out_attention_matches_the_fused_one():
    z = random_z(6)
    model = make_model(dropout=0.3).train()
    model.seed_dropout(1)
    first = model(z)
    torch.rand(100)  # global RNG traffic changes nothing
    model.seed_dropout(1)
    assert torch.equal(model(z), first)
    model.seed_dropout(2)
    assert not torch.equal(model(z), first)
    # p = 1e-9: the written-out attention runs, but (almost surely) drops nothing, so it matches the fused
    # kernel that eval mode uses
    tiny = make_model(dropout=1e-9).train()
    tiny.seed_dropout(0)
    assert torch.allclose(tiny(z), tiny.eval()(z), atol=1e-5)
