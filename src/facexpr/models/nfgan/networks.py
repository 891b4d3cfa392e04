"""NFGAN's networks: the encoder (Table 1), the decoder (Table 2) and the discriminator (Table 3, LReLU 0.3),
and the refiner of our on-warp variant.

The encoder maps a face to the code z, the decoder draws the neutral face from
z; training keeps them apart so that the adversarial and symmetry losses reach
the decoder only (:meth:`NFGANNet.forward` with ``detach_code``). The
:class:`NFGANRefiner` has no code: a U-Net adds a residual to an already
neutralized face inside its face mask.
"""

from __future__ import annotations

import torch
from torch import nn

from facexpr.models.nfgan.config import LEVELS, NFGANConfig
from facexpr.nn.unet import UNet

#: The discriminator's LeakyReLU slope (the paper's alpha).
CRITIC_SLOPE = 0.3


def _strided(in_channels: int, out_channels: int, batch_norm: bool, activation: nn.Module) -> nn.Sequential:
    """A 3 x 3 stride-2 convolution (halves the map), optional batch norm, then ``activation``."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=not batch_norm)]
    return nn.Sequential(*layers, *([nn.BatchNorm2d(out_channels)] if batch_norm else []), activation)


class NFGANEncoder(nn.Module):
    """Table 1: four 3 x 3 stride-2 convolutions (width, 2x, 4x, 8x; batch norm except after the first; ReLU),
    FC ``fc`` (ReLU), FC ``latent`` = z."""

    def __init__(self, config: NFGANConfig):
        super().__init__()
        widths = [config.network_channels] + [config.width * 2**i for i in range(LEVELS)]
        self.convs = nn.Sequential(*(_strided(widths[i], widths[i + 1], i > 0, nn.ReLU()) for i in range(LEVELS)))
        side = config.size // 2**LEVELS
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(widths[-1] * side * side, config.fc), nn.ReLU(),
                                nn.Linear(config.fc, config.latent))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) in [0, 1] -> (B, latent) codes."""
        return self.fc(self.convs(x * 2 - 1))


class NFGANDecoder(nn.Module):
    """Table 2: FC from z to a ``decoder_width`` map of size / 16, then four 4 x 4 fractional-stride (transposed,
    stride 2) convolutions halving the channels (batch norm, ReLU), the last drawing the image with tanh."""

    def __init__(self, config: NFGANConfig):
        super().__init__()
        self.side = config.size // 2**LEVELS
        self.width = config.decoder_width
        self.fc = nn.Sequential(nn.Linear(config.latent, self.width * self.side**2), nn.ReLU())
        widths = [self.width // 2**i for i in range(LEVELS)] + [config.network_channels]
        layers: list[nn.Module] = []
        for i in range(LEVELS):
            last = i == LEVELS - 1
            layers.append(nn.ConvTranspose2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=last))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(widths[i + 1]), nn.ReLU()]
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent) -> (B, C, S, S) in [0, 1] (tanh mapped from [-1, 1])."""
        x = self.fc(z).view(-1, self.width, self.side, self.side)
        return (self.deconvs(x) + 1) / 2


class NFGANNet(nn.Module):
    """Encoder and decoder: a face in, its neutral face out (both at the config's size and channels)."""

    def __init__(self, config: NFGANConfig):
        super().__init__()
        self.encoder = NFGANEncoder(config)
        self.decoder = NFGANDecoder(config)

    def forward(self, x: torch.Tensor, detach_code: bool = False) -> torch.Tensor:
        """The neutral face of ``x``; ``detach_code``: no gradient of what follows reaches the encoder."""
        z = self.encoder(x)
        return self.decoder(z.detach() if detach_code else z)


class NFGANRefiner(nn.Module):
    """Our on-warp variant: ``base + mask * (U-Net(base) - base)``; the U-Net outputs a residual whose last
    convolution starts at zero, so an untrained refiner returns the geometric model's face unchanged."""

    def __init__(self, config: NFGANConfig):
        super().__init__()
        self.unet = UNet(config.network_channels, depth=LEVELS, width=config.width, max_width=8 * config.width,
                         output="residual")

    def forward(self, base: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) neutralized faces and (B, 1, S, S) face masks in [0, 1] -> refined faces."""
        return base + mask * (self.unet(base) - base)


def build_generator(config: NFGANConfig) -> NFGANNet | NFGANRefiner:
    """The config's generator: the encoder-decoder, or with ``on_warp`` the refiner."""
    return NFGANRefiner(config) if config.on_warp else NFGANNet(config)


class NFGANDiscriminator(nn.Module):
    """Table 3: four 3 x 3 stride-2 convolutions (critic_width doubling; batch norm except after the first;
    LeakyReLU 0.3) and one logit: is this a real neutral frontal face?"""

    def __init__(self, config: NFGANConfig):
        super().__init__()
        widths = [config.network_channels] + [config.critic_width * 2**i for i in range(LEVELS)]
        convs = (_strided(widths[i], widths[i + 1], i > 0, nn.LeakyReLU(CRITIC_SLOPE)) for i in range(LEVELS))
        side = config.size // 2**LEVELS
        self.net = nn.Sequential(*convs, nn.Flatten(), nn.Linear(widths[-1] * side * side, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) in [0, 1] -> (B,) logits."""
        return self.net(x * 2 - 1).squeeze(1)
