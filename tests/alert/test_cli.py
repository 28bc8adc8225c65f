import json

from tests.alert.conftest import mark_list_and_remove
from vidsearch.cli import main


def test_watchlist_commands(footage, monkeypatch, capsys):
    monkeypatch.setenv("VIDSEARCH_DATA_DIR", str(footage.tmp / "data"))
    monkeypatch.setenv("VIDSEARCH_OCR", "0")
    assert main(["watchlist", "add", "fractal", "--image", str(footage.still)]) == 0
    assert main(["ingest", str(footage.a), str(footage.b)]) == 0
    capsys.readouterr()
    assert main(["alerts", "--json"]) == 0
    [alert] = json.loads(capsys.readouterr().out)["alerts"]
    assert alert["watchlist"] == "fractal" and alert["path"] == str(footage.a)
    assert main(["watchlist", "backtest", "fractal", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 1
    mark_list_and_remove(main, capsys, "fractal", alert["id"])
