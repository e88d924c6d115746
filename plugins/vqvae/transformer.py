r"""A small causal transformer over raster-ordered code grids (VQGAN's stage 2, Esser et al. 2021; GPT-2 blocks).

The sequence is ``[start, c_1, …, c_L]`` where ``start`` is a start token (unconditional) or the class token, and
c are the L = H·W codes in raster order. Position t's logits give p(c_{t+1} | start, c_{≤t}), so

.. math::  \log p(\text{codes}) = \sum_{t=1}^{L} \log p(c_t \mid \text{start}, c_{<t}),

and −log2 p(codes) is the ideal code length an arithmetic coder driven by this model reaches (within a few bits).

Sampling is autoregressive with a **key/value cache**: each new code attends to the cached keys and values of
the ones before it, so a grid costs L single-token passes instead of L passes over a growing prefix.

Dropout draws its masks from the run's generator (not torch's process-wide RNG), so resume stays exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Cache = list[tuple[torch.Tensor, torch.Tensor]]


def dropout(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout with an explicit generator; the identity without one (evaluation)."""
    if generator is None or p == 0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=generator.device).to(x.device) >= p
    return x * keep / (1 - p)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads, self.p = heads, p
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, gen: torch.Generator | None = None,
                cache: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, d = x.shape
        q, k, v = (a.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for a in self.qkv(self.ln1(x)).split(d, -1))
        if cache is not None:  # new positions attend to everything cached before them
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        causal = t > 1  # one new token after a cache sees all of it: no mask
        if cache is not None and t > 1:
            raise ValueError("With a cache, feed one token at a time.")
        a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        x = x + dropout(self.proj(a.transpose(1, 2).reshape(b, t, d)), self.p, gen)
        x = x + dropout(self.mlp(self.ln2(x)), self.p, gen)
        return x, (k, v)


class CodeTransformer(nn.Module):
    """Next-code logits over K codes. Tokens: codes 0..K-1, the start token K, class tokens K+1+c."""

    def __init__(self, codes: int, length: int, classes: int = 0, dim: int = 128, layers: int = 4, heads: int = 4,
                 dropout_p: float = 0.0) -> None:
        super().__init__()
        self.codes, self.length, self.classes, self.p = codes, length, classes, dropout_p
        self.tok = nn.Embedding(codes + 1 + classes, dim)
        self.pos = nn.Parameter(torch.randn(length, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout_p) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, codes)

    def start_tokens(self, n: int, labels: torch.Tensor | None, device: torch.device) -> torch.Tensor:
        if self.classes == 0:
            return torch.full((n, 1), self.codes, dtype=torch.long, device=device)
        if labels is None:
            raise ValueError("This prior is class-conditional: it needs labels.")
        return (self.codes + 1 + labels.long().to(device))[:, None]

    def forward(self, codes: torch.Tensor, labels: torch.Tensor | None = None,
                gen: torch.Generator | None = None) -> torch.Tensor:
        """Logits N×L×K for code sequences N×L (position t predicts code t from the codes before it)."""
        n = codes.shape[0]
        tokens = torch.cat([self.start_tokens(n, labels, codes.device), codes[:, :-1]], 1)
        x = dropout(self.tok(tokens) + self.pos[: tokens.shape[1]], self.p, gen)
        for block in self.blocks:
            x, _ = block(x, gen)
        return self.head(self.ln(x))

    def step(self, token: torch.Tensor, position: int, cache: Cache | None) -> tuple[torch.Tensor, Cache]:
        """Logits N×K of the code at ``position`` given the previous token (N×1) and the cache of those before."""
        x = self.tok(token) + self.pos[position: position + 1]
        new: Cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None, None if cache is None else cache[i])
            new.append(kv)
        return self.head(self.ln(x))[:, -1], new

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None,
               temperature: float = 1.0, top_k: int = 0, device: torch.device | None = None,
               on_code: callable | None = None) -> torch.Tensor:
        """N code sequences (N×L), drawn code by code with the KV cache. ``top_k`` > 0 keeps the k likeliest codes;
        ``on_code(codes_so_far)`` is called after each position (for animations)."""
        device = device or self.pos.device
        token = self.start_tokens(n, labels, device)
        out = torch.empty(n, self.length, dtype=torch.long, device=device)
        cache = None
        for t in range(self.length):
            logits, cache = self.step(token, t, cache)
            logits = logits.float() / temperature
            if 0 < top_k < self.codes:
                kth = logits.topk(top_k, dim=1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits, 1)
            out[:, t] = torch.multinomial(probs.to(generator.device), 1, generator=generator)[:, 0].to(device)
            token = out[:, t: t + 1]
            if on_code is not None:
                on_code(out[:, : t + 1])
        return out
