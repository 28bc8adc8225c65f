"""The watchlist commands while a server owns the data folder: they go through its API and print
what they print without one (vidsearch/alert/remote.py)."""
import json
import os

import pytest

from tests.alert.conftest import mark_list_and_remove
from tests.web.conftest import serving, web_settings
from vidsearch.cli import main


@pytest.fixture
def owned(footage, monkeypatch):
    from vidsearch.library import Library

    settings = web_settings(footage.tmp / "data", VIDSEARCH_OCR="0")
    library = Library(settings)
    try:
        with serving(library, local_token="remote-test-token") as live:
            settings.server_info_path.write_text(json.dumps({"url": live.url, "pid": os.getpid(),
                                                             "token": "remote-test-token"}))
            monkeypatch.setenv("VIDSEARCH_DATA_DIR", str(settings.data_dir))
            monkeypatch.setenv("VIDSEARCH_OCR", "0")
            for name in ("VIDSEARCH_QDRANT_URL", "VIDSEARCH_BROKER_URL"):
                monkeypatch.delenv(name, raising=False)
            yield live
    finally:
        library.close()


def test_watchlist_commands_through_the_server(owned, footage, capsys):
    from vidsearch.index.lock import StoreLocked
    from vidsearch.library import Library

    with pytest.raises(StoreLocked):  # the CLI cannot open the store itself
        Library(owned.settings)
    assert main(["watchlist", "add", "fractal", "--image", str(footage.still)]) == 0
    assert "added watchlist 'fractal' (image, threshold" in capsys.readouterr().out
    assert main(["ingest", str(footage.a), str(footage.b)]) == 0
    capsys.readouterr()
    assert main(["alerts", "--json"]) == 0
    [alert] = json.loads(capsys.readouterr().out)["alerts"]
    assert alert["watchlist"] == "fractal" and alert["path"] == str(footage.a)  # the token: full paths
    assert 3.0 <= alert["timestamp"] <= 6.0  # the mandelbrot shot
    assert main(["alerts"]) == 0
    assert "fractal" in capsys.readouterr().out
    assert main(["watchlist", "backtest", "fractal", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total"] == 1 and out["matches"][0]["video_id"] == alert["video_id"]
    assert main(["watchlist", "backtest", "nothing"]) == 1
    assert "no watchlist named 'nothing'" in capsys.readouterr().err
    mark_list_and_remove(main, capsys, "fractal", alert["id"])
    capsys.readouterr()
    assert main(["alerts", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alerts"] == []
