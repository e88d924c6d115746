"""The VQ-VAE's tasks: reconstruct through the code map, the codebook view, edit-by-codes and decoding a typed
code map. A mixin of ``VQVAE`` (``family.py``); it knows nothing of the UI."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

import playground as pg

from . import pictures
from .quantiser import bits_per_image


@dataclass
class ReconstructIn:
    image: pg.ImageInput = pg.image_param("An image (upload) or a drawing (sketch).")


@dataclass
class CodebookIn:
    view: str = pg.param("alone", choices=("alone", "tiled"), help="alone: the code at the centre of a grid of "
                         "the background code; tiled: the code in every cell.")
    order: str = pg.param("usage", choices=("usage", "index"), help="Most used codes first, or by index.")
    first: int = pg.param(0, min=0, max=8191, help="Skip this many codes (page through a large codebook).")
    count: int = pg.param(64, min=1, max=256, help="Codes to show.")


@dataclass
class EditIn:
    image: pg.ImageInput = pg.image_param("The image whose code map you edit.")
    row: int = pg.param(3, min=0, max=63, help="Top row of the region (0 = top).")
    col: int = pg.param(3, min=0, max=63, help="Left column of the region (0 = left).", label="column")
    height: int = pg.param(1, min=1, max=64, help="Rows in the region.")
    width: int = pg.param(1, min=1, max=64, help="Columns in the region.")
    code: int = pg.param(-1, min=-1, max=8191, help="The code written into the region; -1 = the background code.")


@dataclass
class DecodeIn:
    codes: str = pg.param("", help="One row of the grid per line, codes separated by spaces or commas (copy a map "
                          "from Reconstruct). Empty = every cell the background code.", label="code map")


def parse_code_map(text: str, side: int, k: int) -> torch.Tensor:
    """A typed code map → side×side long tensor, or an InputError saying what is wrong."""
    rows = [r for r in (line.strip() for line in text.strip().splitlines()) if r]
    values: list[list[int]] = []
    for i, r in enumerate(rows):
        try:
            values.append([int(t) for t in re.split(r"[\s,;]+", r.strip("[](), ")) if t])
        except ValueError:
            raise pg.InputError(f"Row {i + 1} of the code map holds something that is not a whole number: "
                                f"{r[:60]!r}.") from None
    flat = [v for row in values for v in row]
    if len(flat) != side * side:
        raise pg.InputError(f"This model's code map is {side}×{side} = {side * side} codes; got {len(flat)} "
                            f"in {len(rows)} rows.")
    bad = [v for v in flat if not 0 <= v < k]
    if bad:
        raise pg.InputError(f"Codes must be between 0 and {k - 1} (the codebook has {k}); got {bad[:5]}.")
    return torch.tensor(flat, dtype=torch.long).view(side, side)


def format_code_map(codes: torch.Tensor) -> str:
    return "\n".join(" ".join(str(int(v)) for v in row) for row in codes)


class Tasks:
    """Task methods; ``self`` is the VQVAE family."""

    def _encode_one(self, state: pg.ModelState, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from .family import decode_codes, encode_codes

        codes = encode_codes(state, image[None].to(state.device))
        return codes[0], decode_codes(state, codes)[0]

    def _code_values(self, state: pg.ModelState, codes: torch.Tensor) -> dict:
        k = state.modules["quantiser"].codes
        bits = bits_per_image(k, codes.numel())
        return {"grid": f"{codes.shape[0]}×{codes.shape[1]} codes of a codebook of {k}",
                "bits per image (fixed length)": round(bits, 1), "bytes per image": round(bits / 8, 1),
                "distinct codes in this map": int(codes.unique().numel()), "code map": format_code_map(codes)}

    @torch.no_grad()
    def reconstruct(self, state: pg.ModelState, inp: ReconstructIn) -> pg.TaskResult:

        codes, recon = self._encode_one(state, inp.image)
        k = state.modules["quantiser"].codes
        values = {"PSNR (dB)": round(float(pg.psnr(recon[None].cpu(), inp.image[None].cpu())), 2),
                  **self._code_values(state, codes)}
        return pg.TaskResult(images=[("input", pictures.upscale(inp.image.cpu(), 128)),
                                     ("code map", pictures.code_map(codes, k)),
                                     ("reconstruction", pictures.upscale(recon.cpu(), 128))], values=values)

    @torch.no_grad()
    def codebook(self, state: pg.ModelState, inp: CodebookIn) -> pg.TaskResult:
        from .family import background_code, decode_codes, grid_side

        vq = state.modules["quantiser"]
        k, side = vq.codes, grid_side(state)
        if inp.first >= k:
            raise pg.InputError(f"This codebook has {k} codes; start at most at {k - 1}.")
        order = (torch.argsort(vq.cluster_size, descending=True) if inp.order == "usage"
                 else torch.arange(k, device=vq.embed.device))
        chosen = order[inp.first: inp.first + inp.count]
        bg = background_code(state)
        grids = torch.full((len(chosen), side, side), bg, dtype=torch.long, device=state.device)
        if inp.view == "tiled":
            grids[:] = chosen[:, None, None]
        else:
            grids[:, side // 2, side // 2] = chosen
        tiles = decode_codes(state, grids).cpu()
        if inp.view == "alone":  # the patch a code paints: the receptive field around the centre cell
            cell = state.info.size // side
            lo, hi = max(0, (side // 2 - 1) * cell), min(state.info.size, (side // 2 + 2) * cell)
            tiles = tiles[:, :, lo:hi, lo:hi]
        usage = vq.cluster_size[chosen].cpu()
        rows = [{"code": str(int(c)), "assignments per step (EMA)": float(u)}
                for c, u in zip(chosen.cpu(), usage, strict=True)]
        values = {"codes shown": f"{inp.first}–{inp.first + len(chosen) - 1} of {k} by {inp.order}",
                  "order of the tiles": " ".join(str(int(c)) for c in chosen),
                  "background code": bg, "dead codes": int(vq.dead(state.config.dead_threshold).sum())}
        return pg.TaskResult(images=[(f"{len(chosen)} codes, {inp.view}", pg.make_grid(tiles, nrow=16))],
                             values=values, chart=pg.Chart(rows, x="code", y="assignments per step (EMA)",
                                                           title="usage of the codes shown"))

    def _region(self, state: pg.ModelState, inp: EditIn) -> tuple[slice, slice, int]:
        from .family import background_code, grid_side

        side, k = grid_side(state), state.modules["quantiser"].codes
        if inp.row >= side or inp.col >= side:
            raise pg.InputError(f"The code map is {side}×{side}: row and column run from 0 to {side - 1}.")
        if inp.code >= k:
            raise pg.InputError(f"Code {inp.code} is not in the codebook (0–{k - 1}).")
        code = background_code(state) if inp.code < 0 else inp.code
        return slice(inp.row, min(side, inp.row + inp.height)), slice(inp.col, min(side, inp.col + inp.width)), code

    @torch.no_grad()
    def edit(self, state: pg.ModelState, inp: EditIn) -> pg.TaskResult:
        from .family import decode_codes

        rows, cols, code = self._region(state, inp)
        codes, recon = self._encode_one(state, inp.image)
        edited = codes.clone()
        old = codes[rows, cols].unique().tolist()
        edited[rows, cols] = code
        out = decode_codes(state, edited[None])[0]
        k = state.modules["quantiser"].codes
        mask = torch.zeros_like(codes, dtype=torch.bool)
        mask[rows, cols] = True
        values = {"region": f"rows {rows.start}–{rows.stop - 1}, columns {cols.start}–{cols.stop - 1}",
                  "codes replaced": old, "written code": code,
                  "pixels changed (|Δ| > 0.1)": int(((out - recon).abs() > 0.1).sum()),
                  "edited code map": format_code_map(edited)}
        return pg.TaskResult(images=[("code map", pictures.code_map(codes, k)),
                                     ("reconstruction", pictures.upscale(recon.cpu(), 128)),
                                     ("edited map", pictures.code_map(edited, k)),
                                     ("edited reconstruction", pictures.upscale(out.cpu(), 128)),
                                     ("difference", pictures.upscale((out - recon).abs().clamp(max=2).cpu() - 1, 128)),
                                     ("region", pictures.upscale(mask[None].float().cpu() * 2 - 1, 128))],
                             values=values)

    @torch.no_grad()
    def decode(self, state: pg.ModelState, inp: DecodeIn) -> pg.TaskResult:
        from .family import background_code, decode_codes, grid_side

        side, k = grid_side(state), state.modules["quantiser"].codes
        codes = (parse_code_map(inp.codes, side, k) if inp.codes.strip()
                 else torch.full((side, side), background_code(state), dtype=torch.long))
        out = decode_codes(state, codes[None].to(state.device))[0]
        return pg.TaskResult(images=[("code map", pictures.code_map(codes, k)),
                                     ("decoded", pictures.upscale(out.cpu(), 128))],
                             values=self._code_values(state, codes))
