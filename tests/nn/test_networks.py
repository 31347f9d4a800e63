"""Network-level checks: tied weights, optimizer separation, variational layers."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from medl.nn import FixedEffectsNet, RandomEffectsNet, TiedAutoencoder
from medl.nn.layers import BatchEffects, REBlock, gaussian_kl
from medl.train.plans import AdversarialPlan


@pytest.fixture(autouse=True)
def _seeded():
    """Every test draws from the same seed, so its values do not depend on test order."""
    torch.manual_seed(0)


def test_tied_decoder_shares_encoder_kernels():
    torch.manual_seed(0)
    ae = TiedAutoencoder(20, (8, 4), 2)
    decoder_own = {n for n, _ in ae.decoder.named_parameters()}
    assert decoder_own == {"biases.0", "biases.1", "biases.2"}  # no kernels of its own
    z = torch.randn(5, 2)
    ae.decoder(z).sum().backward()
    for linear in ae.encoder.linears:  # decoding alone gives every encoder kernel a gradient
        assert linear.weight.grad is not None and linear.weight.grad.abs().sum() > 0
    before = ae.decoder(z).detach()
    with torch.no_grad():
        ae.encoder.linears[0].weight.mul_(2)
    assert not torch.allclose(before, ae.decoder(z))


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _changed(before, params):
    return any(not torch.equal(b, p) for b, p in zip(before, params))


def test_adversary_and_autoencoder_steps_are_separate():
    torch.manual_seed(0)
    fe = FixedEffectsNet(30, (16, 8), 2, n_batches=3)
    plan = AdversarialPlan("fe", fe, lr=1e-2)
    ae_params, adv_params = fe.autoencoder_parameters(), list(fe.adversary.parameters())
    assert not {id(p) for p in ae_params} & {id(p) for p in adv_params}
    states = {}

    def wrap(optimizer, key):
        step = optimizer.step

        def recorded(*a, **k):
            out = step(*a, **k)
            states[key] = (_snapshot(ae_params), _snapshot(adv_params))
            return out

        optimizer.step = recorded

    wrap(plan.adversary_optimizer, "after_adv")
    wrap(plan.optimizer, "after_ae")
    start = (_snapshot(ae_params), _snapshot(adv_params))
    x, codes = torch.rand(32, 30), torch.randint(0, 3, (32,))
    plan.step(x, codes, None)
    ae_after_adv, adv_after_adv = states["after_adv"]
    ae_after_ae, adv_after_ae = states["after_ae"]
    assert not _changed(start[0], ae_after_adv)  # adversary step leaves the AE alone
    assert _changed(start[1], adv_after_adv)
    assert not _changed(adv_after_adv, adv_after_ae)  # AE step leaves the adversary alone
    assert _changed(ae_after_adv, ae_after_ae)
    assert all(p.requires_grad for p in adv_params)  # unfrozen again after the step


@pytest.mark.parametrize("kind", ["confusion", "negative_ce"])
def test_autoencoder_step_pushes_against_adversary(kind):
    torch.manual_seed(0)
    fe = FixedEffectsNet(30, (16, 8), 2, n_batches=2, w_recon=0.0, w_adv=1.0, adversarial_loss=kind)
    x, codes = torch.rand(64, 30), torch.randint(0, 2, (64,))
    acts = fe.encoder(x)
    loss = fe.loss_with_batch(x, acts, codes, None)
    if kind == "negative_ce":
        assert torch.isclose(loss["total"], -loss["adv_ce"])
    else:  # cross-entropy to uniform: log(B) exactly when the adversary is at chance
        logp = torch.log_softmax(fe.adversary_logits(acts), dim=1)
        assert torch.isclose(loss["total"], -logp.mean())
        assert loss["total"] >= torch.log(torch.tensor(2.0)) - 1e-6
    assert loss["autoencoder"] == 0  # w_recon 0: the monitored AE part excludes the adversary


def test_variational_kl_matches_torch():
    torch.manual_seed(0)
    effects = BatchEffects(4, [7, 3], prior_scale=0.25, post_loc_init_scale=0.1)
    effects.rho.data += torch.randn_like(effects.rho)  # spreads away from the init value
    per_layer = [
        kl_divergence(Normal(mu, sigma), Normal(0.0, 0.25)).sum()
        for mu, sigma in zip(
            effects.mu.split(effects.splits, 1), effects.sigma().split(effects.splits, 1)
        )
    ]
    assert torch.allclose(effects.kl(), torch.stack(per_layer).mean(), rtol=1e-5)


def test_variational_kl_gradient_matches_autograd():
    # the KL has a hand-written backward; check it against finite differences in float64
    mu = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    rho = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m, r: gaussian_kl(m, r, 0.25), (mu, rho))


def test_variational_lookup_gradient_is_repeatable():
    # large enough for torch to parallelise the backward: indexing with w[codes] summed the
    # rows' gradients in a thread-dependent order, so seeded fits differed between runs
    torch.manual_seed(0)
    effects = BatchEffects(3, [2000]).eval()
    codes, upstream = torch.randint(0, 3, (512,)), torch.randn(512, 4000)
    grads = []
    for _ in range(10):
        effects.zero_grad()
        (torch.cat(effects(codes)[0], dim=1) * upstream).sum().backward()
        grads.append(effects.mu.grad.clone())
    assert all(torch.equal(grads[0], g) for g in grads)


def test_reblock_samples_in_training_and_uses_means_in_eval():
    torch.manual_seed(0)
    effects, block = BatchEffects(3, [6]), REBlock(6)
    x, codes = torch.randn(10, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    effects.train()
    assert not torch.equal(block(x, effects(codes)[0]), block(x, effects(codes)[0]))
    effects.eval()
    assert torch.equal(block(x, effects(codes)[0]), block(x, effects(codes)[0]))
    gamma, beta = effects.mu[codes, :6], effects.mu[codes, 6:]
    expected = (1 + gamma) * block.norm(x) + beta
    assert torch.allclose(block(x, effects(codes)[0]), expected)


def test_training_sample_of_one_batch_is_shared_by_its_cells():
    # one weight sample per batch per step: cells of the same batch get the same draw
    torch.manual_seed(0)
    effects = BatchEffects(3, [4, 2]).train()
    codes = torch.tensor([2, 0, 2, 1, 0])
    rows = torch.cat([torch.cat(pair, 1) for pair in effects(codes)], 1)
    assert torch.equal(rows[0], rows[2]) and torch.equal(rows[1], rows[4])
    assert not torch.allclose(rows[0], effects.mu[2])


def test_random_effects_net_batch_changes_output():
    torch.manual_seed(0)
    net = RandomEffectsNet(12, (8, 4), 2, n_batches=2).eval()
    x = torch.rand(5, 12)
    a = net.decode(
        net.encode(x, torch.zeros(5, dtype=torch.long)), torch.zeros(5, dtype=torch.long)
    )
    b = net.decode(net.encode(x, torch.zeros(5, dtype=torch.long)), torch.ones(5, dtype=torch.long))
    assert not torch.allclose(a, b)
    losses = net.train().loss(x, torch.tensor([0, 1, 0, 1, 0]))
    assert set(losses) == {"recon", "batch_ce", "batch_acc", "kl", "total"}


def test_mixed_effects_vae_terms_match_their_definitions():
    import torch.distributions as D

    from medl.nn import MixedEffectsVAE

    torch.manual_seed(0)
    net = MixedEffectsVAE(12, (8, 4), 3, n_batches=2, n_labels=2, w_latent_kl=2.0)
    x, codes, labels = torch.rand(16, 12), torch.randint(0, 2, (16,)), torch.randint(0, 2, (16,))
    net.eval()  # posterior means, no sampling: the terms can be recomputed exactly
    losses = net.loss(x, codes, labels)
    mean, logvar = net.posterior(x)
    q = D.Normal(mean, torch.exp(0.5 * logvar))
    kl = D.kl_divergence(q, D.Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(losses["latent_kl"], kl)
    out = net.decode(mean, codes)
    scale = torch.exp(net.log_scale)
    nll = -D.Normal(out, scale).log_prob(x).sum(1).mean() - 6 * math.log(2 * math.pi)
    torch.testing.assert_close(losses["nll"], nll)
    expected = nll + 2.0 * kl + net.w_kl * net.kl() + net.w_y * losses["y_ce"]
    torch.testing.assert_close(losses["total"], expected)
    # the batch-free reconstruction decodes with the batches' average effects
    avg = net._decode(mean, net.effects.average())
    torch.testing.assert_close(net.reconstruct(x), avg)
    net.train()
    net.loss(x, codes, labels)["total"].backward()
    assert net.to_logvar.weight.grad.abs().sum() > 0 and net.effects.mu.grad.abs().sum() > 0


def test_mixed_effects_vae_batch_layers_limit_the_per_batch_blocks():
    from medl.nn import MixedEffectsVAE

    one = MixedEffectsVAE(12, (8, 4), 3, n_batches=2, batch_layers=1)
    assert one.effects.splits == [12, 12]  # gamma and beta of the output layer only
    every = MixedEffectsVAE(12, (8, 4), 3, n_batches=2)
    assert every.effects.splits == [4, 4, 8, 8, 12, 12]
    x, codes = torch.rand(6, 12), torch.tensor([0, 1, 0, 1, 0, 1])
    one.eval()
    z = one.encode(x)
    # batches differ only through the output block
    torch.testing.assert_close(
        one.decode(z, codes) - one.decode(z, torch.zeros_like(codes)),
        one._decode(z, one.effects(codes)) - one._decode(z, one.effects(torch.zeros_like(codes))),
    )
    with pytest.raises(ValueError, match="batch_layers"):
        import medl

        medl.MEDL(batch_layers=0)
