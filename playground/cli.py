"""``playground`` command line: train, sample, run a task, evaluate, list plugins/weights/datasets, serve, bench."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from .errors import ConfigError, PlaygroundError, PluginError
from .params import ImageInput, invert_spec, param_specs, settable_specs


def _registry(args: argparse.Namespace) -> Any:
    from .registry import get_registry, plugin_dirs_from_env

    dirs = plugin_dirs_from_env() + [Path(d) for d in (args.plugins_dir or [])]
    return get_registry(dirs)


def _add_params(parser: argparse.ArgumentParser, cls: type) -> None:
    for s in settable_specs(cls):
        if s.flag in parser._option_string_actions:  # a plugin's field named like one of the command's own flags
            raise PluginError(f"{cls.__name__}.{s.name} is also a flag of `{parser.prog}` ({s.flag}); the plugin "
                              "must rename that field.")
        if s.type is ImageInput:
            parser.add_argument(s.flag, dest=s.name, help=f"{s.help} (a file path)")
            inv = invert_spec(s)
            parser.add_argument(inv.flag, dest=inv.name, default=None, choices=inv.choices, help=inv.help)
            continue
        extra = f" [{s.min}..{s.max}]" if s.min is not None or s.max is not None else ""
        parser.add_argument(s.flag, dest=s.name, default=None, choices=s.choices,
                            help=f"{s.help}{extra} (default: {s.default})")


def _values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    specs = param_specs(cls)
    specs += [invert_spec(s) for s in specs if s.type is ImageInput]
    return {s.name: getattr(args, s.name) for s in specs if getattr(args, s.name, None) is not None}


def _family_parser(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, add_help=False)
    p.add_argument("family", nargs="?", help="model family name (see `playground plugins`)")
    p.add_argument("-h", "--help", action="store_true")
    return p


def cmd_train(args: argparse.Namespace, rest: list[str]) -> int:
    from .checkpoint import MODEL_FILE
    from .engine import Trainer
    from .errors import WeightsError
    from .images import make_grid, tensor_to_pil
    from .interrupts import exit_code, stop_on_signals
    from .weights import check_home, claim_run_folder, reference_of, release_run_folder, resolve, resume_in_place

    reg = _registry(args)
    fam = reg.family(args.family)
    p = argparse.ArgumentParser(prog=f"playground train {fam.name}")
    _add_params(p, fam.config)
    p.add_argument("--name", help="name of the run: weights run/NAME, kept in $PLAYGROUND_HOME/runs/FAMILY/NAME "
                   "(default name: a timestamp)")
    p.add_argument("--out", help="write the checkpoint into this folder instead (e.g. weights/FAMILY/NAME to ship "
                   "it); a folder elsewhere is used by name after `playground import FAMILY FOLDER`")
    p.add_argument("--resume", help="weights to continue exactly: run/NAME (or NAME / import/NAME)")
    p.add_argument("--overwrite", action="store_true",
                   help="let --out replace a checkpoint already there (otherwise refused)")
    p.add_argument("--device", help="auto, cpu, cuda, mps")
    a = p.parse_args(rest)
    src = resolve(fam.name, a.resume) if a.resume else None
    if not a.out:
        check_home()
    if a.out:
        out = Path(a.out)
        if src is None and (out / MODEL_FILE).exists() and not a.overwrite:
            raise WeightsError(f"{out} already holds a checkpoint; pass --overwrite to replace it, --resume to "
                               "continue it, or choose another --out.")
    elif src is not None and not a.name:
        out = resume_in_place(fam.name, a.resume)  # your run goes on in its folder; shipped and imports are read-only
    else:
        _, out = claim_run_folder(fam.name, a.name)

    def show(pr: Any) -> None:
        last = {n: v for s, n, v in pr.losses if s == pr.step}
        loss = " ".join(f"{n}={v:.4f}" for n, v in last.items())
        print(f"[{pr.status}] step {pr.step}/{pr.total} {loss} ({pr.steps_per_s:.1f} steps/s)", flush=True)

    def stop(signal_name: str) -> None:
        print(f"\n{signal_name}: stopping after this step and writing a checkpoint (press Ctrl-C again to quit at "
              "once without it).", file=sys.stderr, flush=True)
        trainer.stop()

    try:
        trainer = Trainer(reg, fam.name, _values(a, fam.config), out_dir=out, resume=src, device=a.device,
                          on_progress=show)
        with stop_on_signals(stop) as received:
            pr = trainer.run()
        trainer.dist.close()
    finally:
        if out != src and not a.out:  # a folder claimed here goes back if the run wrote nothing (refused at start)
            release_run_folder(out)
    if not trainer.dist.main:  # under accelerate launch / torchrun only the main process writes and prints
        return 0
    if pr.preview is not None:
        tensor_to_pil(make_grid(pr.preview, nrow=8), scale=2).save(out / "preview.png")
    for note in pr.notes:
        print(f"Note: {note}")
    ref = reference_of(fam.name, out)
    how = (f"use it as --weights {ref}" if ref else
           f"to use it by name: playground import {fam.name} {out} --name NAME (then --weights import/NAME)")
    print(f"{pr.message} Checkpoint: {out} ({how})")
    if pr.status == "stopped" and ref:
        again = f"--resume {ref}" + ("" if ref.startswith("run/") else f" --out {out}")
        print(f"Continue it with: playground train {fam.name} {again}")
    return exit_code(received[0]) if received else 0


def _image_values(values: dict[str, Any], cls: type) -> dict[str, Any]:
    from .errors import InputError

    for s in param_specs(cls):
        if s.type is ImageInput and values.get(s.name):
            path = Path(values[s.name])
            if not path.is_file():
                raise InputError(f"{path}: no such image file.")
            values[s.name] = path
    return values


RUN_IMAGES_PER_ROW = 8  # `playground run … --out x.png` with many images: a grid, not a strip


def _print_result(result: Any, out: str | None) -> None:
    import torch

    from .images import make_grid, save_gif, tensor_to_pil

    print(json.dumps(result.values, indent=2, default=str, ensure_ascii=False))
    if not out:
        return
    def scale(h: int, w: int) -> int:  # small model-sized pictures are enlarged; plots and grids are not
        return 4 if max(h, w) <= 64 else 1

    if out.lower().endswith(".gif") and result.animation:
        save_gif(result.animation, out, scale=scale(*result.animation[0].shape[-2:]))
    elif len(result.images) == 1:
        tensor_to_pil(result.images[0][1], scale=2).save(out)
    elif result.images:  # several images (input · output …), rows of up to 8, each padded to the largest
        imgs = [img for _, img in result.images]
        c = max(i.shape[0] for i in imgs)
        h, w = max(i.shape[1] for i in imgs), max(i.shape[2] for i in imgs)
        canvas = torch.full((len(imgs), c, h, w), -1.0)
        for k, img in enumerate(imgs):
            canvas[k, :, :img.shape[1], :img.shape[2]] = img.expand(c, -1, -1)
        tensor_to_pil(make_grid(canvas, nrow=min(len(imgs), RUN_IMAGES_PER_ROW)), scale=scale(h, w)).save(out)
    else:
        return
    print(f"wrote {out}")


def cmd_sample(args: argparse.Namespace, rest: list[str]) -> int:
    from .inference import SampleInputs, run_sample

    reg = _registry(args)
    fam = reg.family(args.family)
    p = argparse.ArgumentParser(prog=f"playground sample {fam.name}",
                                description="Draw from the family's sample(): a grid of images or a 2-D plot.")
    p.add_argument("--weights", required=True, help="weights: NAME (shipped), run/NAME or import/NAME")
    p.add_argument("--out", help="write the grid or plot here (PNG)")
    p.add_argument("--device")
    _add_params(p, SampleInputs)
    a = p.parse_args(rest)
    _print_result(run_sample(reg, fam.name, a.weights, _values(a, SampleInputs), a.device), a.out)
    return 0


def cmd_run(args: argparse.Namespace, rest: list[str]) -> int:
    from .inference import run_task

    reg = _registry(args)
    fam = reg.family(args.family)
    tasks_help = "\n".join(f"task {t.name}: {t.description}\n" + "".join(
        f"  {s.flag}: {s.help} (default: {s.default})\n" for s in param_specs(t.inputs)) for t in fam.tasks)
    p = argparse.ArgumentParser(prog=f"playground run {fam.name}", epilog=tasks_help,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=[t.name for t in fam.tasks])
    p.add_argument("--weights", required=True, help="weights: NAME (shipped), run/NAME or import/NAME")
    p.add_argument("--out", help="write the output here: .png (several images: in the task's order, rows of 8), "
                   "or .gif for a task that animates (it plays forth and back)")
    p.add_argument("--device")
    a, more = p.parse_known_args(rest)
    task = fam.task(a.task)
    tp = argparse.ArgumentParser(prog=f"playground run {fam.name} {task.name}")
    _add_params(tp, task.inputs)
    values = _image_values(_values(tp.parse_args(more), task.inputs), task.inputs)
    _print_result(run_task(reg, fam.name, a.weights, task.name, values, a.device), a.out)
    return 0


def cmd_eval(args: argparse.Namespace, rest: list[str]) -> int:
    from .inference import run_evaluate, run_quality

    reg = _registry(args)
    fam = reg.family(args.family)
    p = argparse.ArgumentParser(prog=f"playground eval {fam.name}")
    p.add_argument("--weights", action="append", required=True,
                   help="weights to evaluate (repeat to compare several)")
    p.add_argument("--quality", action="store_true",
                   help="sample-quality scores (FID/KID/IS/PRDC, class histogram) with their protocol")
    p.add_argument("--samples", type=int, default=1000, help="samples per checkpoint for --quality")
    p.add_argument("--quality-seed", type=int, default=0, help="seed of the samples for --quality")
    p.add_argument("--inception", action="store_true",
                   help="also the paper-style Inception FID (needs torch-fidelity and its downloaded weights)")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--markdown", help="write the results as a Markdown report here")
    p.add_argument("--device")
    if fam.evaluate_inputs is not None:
        _add_params(p, fam.evaluate_inputs)
    a = p.parse_args(rest)
    report: dict[str, Any] = {"family": fam.name, "results": {}}
    md = [f"# {fam.title} evaluation\n"]
    for ref in a.weights:
        if fam.evaluate_inputs is not None:
            from .metrics.report import values_markdown

            res = run_evaluate(reg, fam.name, ref, _values(a, fam.evaluate_inputs), a.device)
            report["results"][ref] = {"values": res.values, "chart": res.chart.rows if res.chart else None}
            md += [f"## {ref}\n", values_markdown(res.values), ""]
    if a.quality:
        from .metrics.report import comparison_rows, markdown_table

        quality = run_quality(reg, fam.name, a.weights, a.samples, a.quality_seed, a.device, a.inception)
        report["quality"] = {ref: rep.as_dict() for ref, rep, _ in quality}
        rows, note = comparison_rows([(ref, rep) for ref, rep, _ in quality])
        md += ["## Sample quality\n", markdown_table(rows), "", note, ""]
    text = json.dumps(report, indent=2, default=str, ensure_ascii=False)
    print(text if not a.markdown else "\n".join(md))
    if a.json:
        Path(a.json).write_text(text)
    if a.markdown:
        Path(a.markdown).write_text("\n".join(md))
    return 0


def cmd_plugins(args: argparse.Namespace, rest: list[str]) -> int:
    p = argparse.ArgumentParser(prog="playground plugins", description="Loaded, failed and disabled plugins "
                                "(with --traceback: each failure's traceback).")
    p.add_argument("--strict", action="store_true", help="exit 1 when any plugin failed (for CI)")
    a = p.parse_args(rest)
    reg = _registry(args)
    for row in reg.status_rows():
        print(f"{row['plugin']:<24} {row['status']:<20} {row['provides']}")
        if row["last error"]:
            print(f"    {row['last error']}\n    file: {row['file']}")
    if args.traceback:
        for f in reg.failures:
            print(f"\n--- {f.plugin} [{f.stage}] {f.file}\n{f.traceback}")
    return 1 if reg.failures and a.strict else 0


def cmd_weights(args: argparse.Namespace, rest: list[str]) -> int:
    from .weights import list_weights

    p = argparse.ArgumentParser(prog="playground weights", description="Shipped, run/… and import/… weights "
                                "(of one FAMILY, or all).")
    p.add_argument("family", nargs="?")
    a = p.parse_args(([args.family] if args.family else []) + rest)
    reg = _registry(args)
    for fam in ([reg.family(a.family)] if a.family else reg.families.values()):
        for e in list_weights(fam.name):
            print(f"{fam.name:<14} {e.ref:<28} {e.source:<8} step {e.step:<7} data {e.dataset}  {e.path}")
    return 0


def cmd_datasets(args: argparse.Namespace, rest: list[str]) -> int:
    argparse.ArgumentParser(prog="playground datasets", description="Registered datasets.").parse_args(rest)
    reg = _registry(args)
    for d in reg.datasets.values():
        print(f"{d.name:<14} {d.kind:<7} {d.source:<9} {d.title}")
    return 0


def cmd_serve(args: argparse.Namespace, rest: list[str]) -> int:
    from .ui.app import launch

    p = argparse.ArgumentParser(prog="playground serve")
    p.add_argument("--port", type=int)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link (uses the network)")
    p.add_argument("--allow-folders", action="append", default=[], metavar="ROOT",
                   help="let web visitors train on folder:PATH datasets under ROOT (repeatable; default: none)")
    a = p.parse_args(rest)
    launch(_registry(args), port=a.port, share=a.share, allow_folders=a.allow_folders)
    return 0


def cmd_card(args: argparse.Namespace, rest: list[str]) -> int:
    from .cards import write_card

    reg = _registry(args)
    fam = reg.family(args.family)
    p = argparse.ArgumentParser(prog=f"playground card {fam.name}",
                                description="Evaluate weights and write their model card (README.md + samples.png).")
    p.add_argument("--weights", required=True)
    p.add_argument("--command", required=True, help="the command that reproduces these weights")
    p.add_argument("--note", default="", help="what these weights show, in a sentence or two (markdown)")
    p.add_argument("--eval", action="append", default=[], metavar="KEY=VALUE",
                   help="an evaluation input (repeat), e.g. --eval compare=digits-k32")
    a = p.parse_args(rest)
    bad = [kv for kv in a.eval if "=" not in kv]
    if bad:
        raise ConfigError(f"--eval takes KEY=VALUE, not {bad[0]!r}.")
    eval_values = dict(kv.split("=", 1) for kv in a.eval)
    print(f"wrote {write_card(reg, fam.name, a.weights, a.command, eval_values=eval_values, note=a.note)}")
    return 0


def cmd_train_evaluator(args: argparse.Namespace, rest: list[str]) -> int:
    from .metrics.evaluator import train_evaluator

    p = argparse.ArgumentParser(prog="playground train-evaluator",
                                description="Train and save the evaluator network of a labelled image dataset.")
    p.add_argument("dataset")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder (default: $PLAYGROUND_HOME/evaluators/DATASET, found there by the "
                   "sample-quality scores; weights/evaluators/DATASET to ship it)")
    a = p.parse_args(rest)
    meta = train_evaluator(_registry(args), a.dataset, epochs=a.epochs, seed=a.seed,
                           out_dir=Path(a.out) if a.out else None)
    print(f"{a.dataset}: held-out accuracy {meta['accuracy']:.4f} ({meta['train_seconds']} s)")
    return 0


def cmd_hub(args: argparse.Namespace, rest: list[str]) -> int:
    from .hub import pull, push

    p = argparse.ArgumentParser(prog="playground hub", description="Share checkpoints on the Hugging Face Hub.")
    sub = p.add_subparsers(dest="action", required=True)
    pl = sub.add_parser("pull", help="download a checkpoint repo into imports (validated first)")
    pl.add_argument("family")
    pl.add_argument("repo_id")
    pl.add_argument("--revision")
    pl.add_argument("--name", help="import name (default: user--repo)")
    pl.add_argument("--overwrite", action="store_true", help="replace an import of the same name")
    ps = sub.add_parser("push", help="upload weights (model.safetensors, config.json, README.md)")
    ps.add_argument("family")
    ps.add_argument("weights")
    ps.add_argument("repo_id")
    ps.add_argument("--private", action="store_true")
    a = p.parse_args(rest)
    reg = _registry(args)
    if a.action == "pull":
        e = pull(reg, reg.family(a.family).name, a.repo_id, revision=a.revision, name=a.name, overwrite=a.overwrite)
        print(f"pulled {a.repo_id} as {e.ref} (step {e.step})")
    else:
        print(push(reg.family(a.family).name, a.weights, a.repo_id, private=a.private))
    return 0


def cmd_import(args: argparse.Namespace, rest: list[str]) -> int:
    from .checkpoint import MODEL_FILE
    from .models import import_file

    reg = _registry(args)
    fam = reg.family(args.family)
    p = argparse.ArgumentParser(prog=f"playground import {fam.name}",
                                description="Copy a checkpoint (a folder written by `train --out`, or its "
                                "model.safetensors) into your imports, checked first; then use it as import/NAME.")
    p.add_argument("path", help="checkpoint folder or .safetensors file")
    p.add_argument("--name", help="import name (default: the folder's or file's name)")
    p.add_argument("--overwrite", action="store_true", help="replace an import of the same name")
    a = p.parse_args(rest)
    src = Path(a.path)
    file = src / MODEL_FILE if src.is_dir() else src
    e = import_file(reg, fam.name, file, a.name or (src.name if src.is_dir() else src.stem), overwrite=a.overwrite)
    print(f"imported {src} as {e.ref} (step {e.step}); use --weights {e.ref}")
    return 0


def cmd_check_plugin(args: argparse.Namespace, rest: list[str]) -> int:
    from .conformance import CHECK_NAMES, CHECKS, check_plugin_folder

    p = argparse.ArgumentParser(
        prog="playground check-plugin",
        description="Run the conformance checks (the contract every family must keep) on the families of one "
                    "plugins folder. Built-in families are loaded for their datasets and parents, not checked. "
                    "Exit code 0 only when every family passes: use it in CI.",
        epilog="checks: " + "; ".join(f"{c.name}: {c.doc}" for c in CHECKS))
    p.add_argument("folder", help="the plugins folder (plugin files or packages)")
    p.add_argument("--family", action="append", help="check only this family (repeatable)")
    p.add_argument("--check", action="append", choices=CHECK_NAMES, help="run only this check (repeatable)")
    a = p.parse_args(rest)
    if not Path(a.folder).is_dir():
        raise ConfigError(f"{a.folder}: no such plugins folder.")

    def show(v: Any) -> None:
        print(f"  {v.family:<16} {v.check:<11} {v.status.upper():<5} {v.seconds:6.1f}s  {v.detail}", flush=True)

    print(f"checking {a.folder} ({', '.join(a.check or CHECK_NAMES)})", flush=True)
    report = check_plugin_folder(a.folder, a.family, a.check or CHECK_NAMES, progress=show)
    for v in report.load_failures:
        show(v)
    if not report.families and not report.load_failures:
        print(f"no model families registered by plugins in {a.folder}")
    print()
    for name in report.families:
        print(f"{name}: {report.family_status(name).upper()}")
    for v in report.load_failures:
        print(f"{v.family}: FAIL ({v.check}: {v.detail})")
    return 0 if report.ok else 1


def cmd_new_plugin(args: argparse.Namespace, rest: list[str]) -> int:
    from .templates import write_plugin

    p = argparse.ArgumentParser(prog="playground new-plugin",
                                description="Write a working, commented family plugin (and its test) to start from; "
                                "it passes `playground check-plugin` as written.")
    p.add_argument("name", help="the family's name (a Python identifier, e.g. my_vae)")
    p.add_argument("--kind", choices=("image", "points"), default="image",
                   help="image: trains on image datasets (digits, …); points: on 2-D point sets (ring8, …)")
    p.add_argument("--dir", default="plugins_local", help="plugins folder to write into (default: plugins_local)")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist")
    a = p.parse_args(rest)
    for path in write_plugin(a.name, a.kind, Path(a.dir), overwrite=a.overwrite):
        print(f"wrote {path}")
    print(f"\nnext: playground check-plugin {a.dir}\n      python app.py --plugins-dir {a.dir}")
    return 0


def cmd_space_check(args: argparse.Namespace, rest: list[str]) -> int:
    from . import space_check as sc

    p = argparse.ArgumentParser(prog="playground space-check", description="Will this repository run as a Hugging "
                                "Face Space (CPU or ZeroGPU)? Checks the README's front matter, requirements.txt's "
                                "pins, app.py's import order and the shipped files' sizes; then, unless --static, "
                                "builds a fresh environment as a Space does and runs one task of every family in it.")
    p.add_argument("--static", action="store_true", help="only the checks that read files (seconds)")
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="the repository (default: this)")
    p.add_argument("--venv", default=".venv-space", help="where to build the Space-like environment")
    p.add_argument("--reuse", action="store_true", help="reuse --venv if it exists instead of rebuilding it")
    a = p.parse_args(rest)
    root = Path(a.root)
    findings = sc.static_findings(root)
    print(sc.report(findings), flush=True)
    if not a.static and all(f.ok for f in findings):
        more = sc.build_findings(root, (root / a.venv).resolve(), reuse=a.reuse)
        print(sc.report(more))
        findings += more
    bad = [f for f in findings if not f.ok]
    print(f"\n{len(findings) - len(bad)} ok, {len(bad)} failed")
    return 1 if bad else 0


def cmd_leaderboard(args: argparse.Namespace, rest: list[str]) -> int:
    from . import leaderboard as lb

    p = argparse.ArgumentParser(prog="playground leaderboard", description="Every shipped model on one protocol "
                                f"({lb.PROTOCOL_N} samples, seed {lb.PROTOCOL_SEED}): scores what is missing or "
                                "whose weights changed, prints the table as Markdown.")
    p.add_argument("--force", action="store_true", help="score every model again, not only changed ones")
    p.add_argument("--write", action="store_true", help="write the shipped cache (weights/leaderboard.json) that "
                   "the Overview tab opens from, instead of the user's")
    p.add_argument("--markdown", help="also write the Markdown here")
    p.add_argument("--json", help="also write the rows as JSON here")
    p.add_argument("--readme", help="replace this README's leaderboard block (between its markers)")
    a = p.parse_args(rest)
    reg = _registry(args)
    rows = lb.update(reg, into=lb.shipped_cache_path() if a.write else None, force=a.force)
    md = lb.markdown(rows)
    print(md)
    if a.markdown:
        Path(a.markdown).write_text(md + "\n")
    if a.json:
        Path(a.json).write_text(json.dumps([dataclasses.asdict(r) for r in rows], indent=1) + "\n")
    if a.readme:
        print(f"{a.readme}: {'updated' if lb.embed_in(Path(a.readme), md) else 'already up to date'}")
    failed = [f"{r.family}/{r.weights}: {r.error}" for r in rows if r.error]
    for f in failed:
        print(f"could not score {f}", file=sys.stderr)
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    from .bench import main as bench_main

    return bench_main(rest, _registry(args))


COMMANDS = {"train": (cmd_train, "train a family (its config fields are flags)"),
            "sample": (cmd_sample, "draw samples from weights (a grid, or a 2-D plot)"),
            "run": (cmd_run, "run any task of a family"),
            "eval": (cmd_eval, "evaluate weights"),
            "card": (cmd_card, "evaluate weights and write their model card"),
            "import": (cmd_import, "import a checkpoint folder or file to use it by name"),
            "hub": (cmd_hub, "pull or push checkpoints on the Hugging Face Hub"),
            "train-evaluator": (cmd_train_evaluator, "train the evaluator network of a dataset"),
            "plugins": (cmd_plugins, "loaded and failed plugins"),
            "weights": (cmd_weights, "available weights"),
            "datasets": (cmd_datasets, "registered datasets"),
            "serve": (cmd_serve, "run the web app"),
            "bench": (cmd_bench, "your family's speed and memory: engine vs a plain loop, latency, memory guard"),
            "leaderboard": (cmd_leaderboard, "every shipped model scored on one protocol (Markdown, JSON)"),
            "space-check": (cmd_space_check, "will this repository run as a Hugging Face Space (CPU, ZeroGPU)?"),
            "new-plugin": (cmd_new_plugin, "write a working family plugin to start from"),
            "check-plugin": (cmd_check_plugin, "run the conformance checks on a plugins folder")}
FAMILY_COMMANDS = ("train", "sample", "run", "eval", "card", "import")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv  # anywhere on the line: a plugin failure's traceback, for its author
    argv = [x for x in argv if x != "--traceback"]
    parser = argparse.ArgumentParser(prog="playground", description="Generative Model Playground",
                                     epilog="Add --traceback to any command to see a failure's traceback.")
    parser.add_argument("--plugins-dir", action="append", help="extra plugins folder (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_) in COMMANDS.items():
        if name in FAMILY_COMMANDS or name == "weights":
            _family_parser(sub, name, help_)
        else:
            sub.add_parser(name, help=help_, add_help=False)
    args, rest = parser.parse_known_args(argv)
    args.help = getattr(args, "help", False)
    args.traceback = show_traceback
    if args.command in FAMILY_COMMANDS and not args.family:
        if not args.help:
            parser.error(f"{args.command} needs a FAMILY (playground {args.command} --help)")
        print(f"usage: playground {args.command} FAMILY [options]\n\n{COMMANDS[args.command][1]}.\n\n"
              f"families: {', '.join(sorted(_registry(args).families))}\n"
              f"`playground {args.command} FAMILY --help` lists that family's options.")
        return 0
    if args.help:
        rest.append("--help")  # the command's own parser prints its help (and exits 0, caught below)
    try:
        return COMMANDS[args.command][0](args, rest)
    except SystemExit as exc:  # a command's own parser: --help (0) or a usage error (2); main returns, never exits
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    except PlaygroundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if show_traceback and exc.__cause__ is not None:
            traceback.print_exception(exc.__cause__)
        elif isinstance(exc, PluginError) and exc.__cause__ is not None:
            print("(run again with --traceback to see where the plugin failed)", file=sys.stderr)
        return 2
    except Exception as exc:
        if show_traceback:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run again with --traceback to see where)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
