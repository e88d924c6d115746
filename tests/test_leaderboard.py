"""The leaderboard (Overview tab, ``playground leaderboard``): one protocol for every shipped model, cached by the
weights' hashes, rescored when weights change, and the README's table in step with it."""

import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from playground import leaderboard as lb
from playground.checkpoint import MODEL_FILE
from playground.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_cache_covers_every_shipped_model_and_is_fresh(registry):
    """Fails when weights are re-shipped (or added) without ``playground leaderboard --write``."""
    rows, stale = lb.cached_rows(registry)
    assert not stale, f"re-run `playground leaderboard --write --readme README.md`: stale {stale}"
    families_with_weights = {f for f, _ in lb.shipped_refs(registry)}
    assert {r.family for r in rows} == families_with_weights
    for r in rows:
        assert not r.error, (r.family, r.weights, r.error)
        if r.kind == "image":
            assert r.scores["FID"] > 0 and 0 <= r.scores["recall"] <= 1 and r.baseline["FID"] > 0
        elif r.kind == "points":
            assert 0 <= r.scores["precision"] <= 1


def test_the_readme_embeds_the_cached_table(registry):
    rows, _ = lb.cached_rows(registry)
    text = (ROOT / "README.md").read_text()
    block = text.split(lb.README_START, 1)[1].split(lb.README_END, 1)[0]
    assert block.strip() == lb.markdown(rows).strip()


def test_card_metrics_and_headlines_come_from_the_card():
    card = (ROOT / "weights" / "gmm" / "ring8" / "README.md").read_text()
    metrics = lb.card_metrics(card)
    assert metrics["held-out log-likelihood (per point)"].startswith("1.0")
    assert "field" not in metrics and "metric" not in metrics  # only the Metrics section's rows


def test_every_declared_headline_number_is_in_a_shipped_card(registry):
    """A family's own numbers in the Overview come from its cards by the names it declares: a name no card has
    would leave the column empty (it did for CycleGAN, whose numbers sat in a wide table only)."""
    for name, fam in registry.families.items():
        cards = [e.card for e in lb.list_weights(name) if e.source == "shipped"]
        for metric in fam.scores.headline:
            assert any(metric in lb.card_metrics(card) for card in cards), (name, metric)


def test_changed_weights_are_rescored_into_the_users_cache(registry, tmp_path, monkeypatch):
    shipped = tmp_path / "weights"
    for ref in ("gmm/ring8", "gan2d/ring8-nonsaturating"):
        shutil.copytree(ROOT / "weights" / ref, shipped / ref)
    shutil.copy(ROOT / "weights" / "leaderboard.json", shipped / "leaderboard.json")
    monkeypatch.setenv("PLAYGROUND_WEIGHTS_DIR", str(shipped))
    rows, stale = lb.cached_rows(registry)
    assert not stale and {r.weights for r in rows} == {"ring8", "ring8-nonsaturating"}
    before = next(r for r in rows if r.family == "gan2d")

    path = shipped / "gan2d" / "ring8-nonsaturating" / MODEL_FILE  # the same model, its G scaled: other samples
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    first_g = next(k for k in tensors if k.startswith("model.G.") and k.endswith("weight"))
    tensors[first_g] = tensors[first_g] * 3
    save_file(tensors, str(path), metadata=meta)
    _, stale = lb.cached_rows(registry)
    assert stale == [("gan2d", "ring8-nonsaturating")]

    rows = lb.update(registry)
    after = next(r for r in rows if r.family == "gan2d")
    assert after.sha256 != before.sha256 and after.scores != before.scores
    assert lb.user_cache_path().exists() and not lb.cached_rows(registry)[1]  # kept in the user's cache
    assert (shipped / "leaderboard.json").read_text() == (ROOT / "weights" / "leaderboard.json").read_text()


def test_leaderboard_command_writes_markdown_and_json(tmp_path, monkeypatch, capsys):
    shipped = tmp_path / "weights"
    shutil.copytree(ROOT / "weights" / "gmm" / "ring8", shipped / "gmm" / "ring8")
    monkeypatch.setenv("PLAYGROUND_WEIGHTS_DIR", str(shipped))
    assert cli(["leaderboard", "--markdown", str(tmp_path / "lb.md"), "--json", str(tmp_path / "lb.json")]) == 0
    md = (tmp_path / "lb.md").read_text()
    assert "GMM (EM) · ring8" in md and "2-D models" in md and "modes covered" in md
    assert '"family": "gmm"' in (tmp_path / "lb.json").read_text()

    def must_not_score(*args):
        raise AssertionError("a fresh row was scored again")

    monkeypatch.setattr(lb, "score", must_not_score)  # nothing changed: the cache answers
    assert cli(["leaderboard"]) == 0 and "GMM (EM) · ring8" in capsys.readouterr().out
