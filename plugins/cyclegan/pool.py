"""The history of generated images the discriminators learn from (Shrivastava et al. 2017; CycleGAN §4): D sees
fakes from earlier generators too, which damps oscillation.

The rule (the reference ``ImagePool``), image by image: while the pool holds fewer than ``size`` images, store the
new fake and return it; once full, with probability ½ return a stored image chosen uniformly and put the new one in
its place, else return the new one. ``size`` 0 turns the pool off.

The pool lives in the run's stash (checkpointed, so a resume continues with the same history), with its own random
generator's state beside it (seeded once from the run's generator). Images are taken one at a time in order and each
pool draws from its own generator, so one batch of 2B and two micro-batches of B (which interleave the two domains'
pools differently) draw the same numbers and leave the same pools.
"""

from __future__ import annotations

import torch


def _generator(stash: dict[str, torch.Tensor], key: str, device: torch.device, seed_from: torch.Generator
               ) -> torch.Generator:
    g = torch.Generator(device=device)
    state = stash.get(f"{key}_rng")
    if state is None:
        g.manual_seed(int(torch.randint(2**62, (), generator=seed_from, device=seed_from.device)))
    else:
        g.set_state(state.cpu())
    return g


def query(stash: dict[str, torch.Tensor], key: str, fakes: torch.Tensor, size: int,
          generator: torch.Generator) -> torch.Tensor:
    """The images D is scored on for this batch of ``fakes`` (detached); updates the pool under ``key``.
    ``generator`` (the run's) seeds the pool's own generator the first time."""
    fakes = fakes.detach()
    if size <= 0:
        return fakes
    images, count = f"{key}_images", f"{key}_count"
    if images not in stash:
        stash[images] = torch.zeros((size, *fakes.shape[1:]), dtype=torch.float32, device=fakes.device)
        stash[count] = torch.zeros((), dtype=torch.int64, device=fakes.device)
    g = _generator(stash, key, fakes.device, generator)
    pool, n = stash[images], int(stash[count])  # one small sync per call; the draws below stay on the device
    out = []
    for fake in fakes.float():
        if n < size:
            pool[n] = fake
            n += 1
            out.append(fake)
            continue
        swap = torch.rand((), generator=g, device=g.device) < 0.5
        j = torch.randint(size, (1,), generator=g, device=g.device)
        stored = pool.index_select(0, j)[0]
        out.append(torch.where(swap, stored, fake))
        pool.index_copy_(0, j, torch.where(swap, fake, stored)[None])
    stash[count].fill_(n)
    stash[f"{key}_rng"] = g.get_state()
    return torch.stack(out).to(fakes.dtype)
