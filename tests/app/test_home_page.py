"""AppTest of the Home page: the model card, in words, without the server's file paths."""

import json
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint, save_checkpoint

HOME = str(Path(__file__).resolve().parents[2] / "app" / "Home.py")


def test_the_model_card_shows_no_server_paths(tmp_path, monkeypatch):
    import common

    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    secret = tmp_path / "secret" / "place"
    ckpt["provenance"] = {
        **(ckpt.get("provenance") or {}),
        "root": str(secret / "svhn"),
        "command": f"python -m svhn_xai train --out {secret / 'x.pt'} --epochs 2",
    }
    save_checkpoint(tmp_path / "mine.pt", {k: v for k, v in ckpt.items() if k[:6] != "format"})
    shutil.copy(DEFAULT_CHECKPOINT, tmp_path / "default.pt")
    monkeypatch.setattr(common, "CHECKPOINTS", tmp_path)
    at = AppTest.from_file(HOME, default_timeout=120).run()
    at.sidebar.selectbox(key="sidebar_checkpoint").set_value("mine.pt")
    at.run()
    assert not at.exception
    shown = json.dumps([j.value for j in at.json]) + " ".join(c.value for c in at.caption)
    assert str(tmp_path) not in shown and "/secret" not in shown
    assert "--out x.pt --epochs 2" in shown
    assert all(m.help for m in at.metric)  # every number says what it is


def test_home_links_every_page():
    at = AppTest.from_file(HOME, default_timeout=120).run()
    assert not at.exception
    linked = {link.proto.page for link in at.get("page_link")}  # the page's URL name
    pages = {p.stem.split("_", 1)[1] for p in (Path(HOME).parent / "pages").glob("*.py")}
    assert linked == pages, f"not linked from Home: {sorted(pages - linked)}"
