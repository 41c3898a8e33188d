"""The Local-Global INR architecture and the canonical list of its tensors.

The order and shapes below are part of the file format (format_spec/FORMAT.md, section
"Network"): the global section stores ``global_tensors`` in this order, every local block
stores ``local_tensors`` in this order. Weights are (in, out) matrices used as ``x @ W``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    naxes: int  # coordinate dimensions: 1 audio, 2 image, 3 video
    channels: int  # output channels
    depth: int  # hidden layers in the local net (and in the global net)
    local_width: int
    global_width: int
    omega: float = 30.0  # SIREN frequency, sin(omega * (x @ W + b)) in every hidden layer

    def global_tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        n, wg, wl = self.naxes, self.global_width, self.local_width
        out = []
        for k in range(self.depth):
            out += [(f"global.{k}.weight", (n if k == 0 else wg, wg)), (f"global.{k}.bias", (wg,))]
        out += [("merge.weight", (wl + wg, wl)), ("merge.bias", (wl,))]
        return out

    def local_tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        """Shapes of one partition's tensors (the model stacks them on a leading partition axis)."""
        n, wl = self.naxes, self.local_width
        out = []
        for k in range(self.depth):
            out += [(f"local.{k}.weight", (n if k == 0 else wl, wl)), (f"local.{k}.bias", (wl,))]
        out += [("head.weight", (wl, self.channels)), ("head.bias", (self.channels,))]
        return out
