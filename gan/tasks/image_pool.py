"""CycleGAN's history of generated images (Shrivastava et al. 2017): D is trained on a mix of
the newest fakes and older ones, so that G cannot win by chasing D's latest weakness."""

from __future__ import annotations

import torch


class ImagePool:
    """Up to `size` past fakes. `query(fakes)` returns a batch the size of `fakes`, image by image
    as the reference's ImagePool: while the pool is not full, each fake is stored and returned;
    once it is, each fake is returned with probability 1/2, and otherwise swapped for a stored one
    drawn uniformly (the fake takes its place). `size=0` returns the fakes themselves. The draws
    come from `generator`; `state_dict` and `load_state_dict` carry the stored images."""

    def __init__(self, size: int = 50) -> None:
        if size < 0:
            raise ValueError(f"pool_size={size}: must be >= 0 (0: no pool)")
        self.size = size
        self.images: list[torch.Tensor] = []  # each (C, H, W), detached

    def query(self, fakes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.size == 0:
            return fakes
        device = fakes.device
        if self.images and self.images[0].device != device:  # restored on another device
            self.images = [image.to(device) for image in self.images]
        returned = []
        for fake in fakes.detach():  # (C, H, W)
            if len(self.images) < self.size:
                self.images.append(fake.clone())
                returned.append(fake)
                continue
            if torch.rand((), generator=generator, device=device).item() > 0.5:
                index = int(torch.randint(0, self.size, (), generator=generator, device=device))
                returned.append(self.images[index])
                self.images[index] = fake.clone()
            else:
                returned.append(fake)
        return torch.stack(returned)  # (B, C, H, W)

    def state_dict(self) -> dict:
        stacked = torch.stack(self.images).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stacked}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        self.images = [image.to(device) for image in state["images"]]
