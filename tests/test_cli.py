"""The CLI drives the same services: keys, models, import, and errors as messages."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from docloop.cli import app

runner = CliRunner()


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path)]
    created = runner.invoke(app, ["keys", "create", "--name", "ci", "--workspace", "team", *home])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("dl_")
    listed = runner.invoke(app, ["keys", "list", *home])
    assert "ci" in listed.output and key not in listed.output
    assert runner.invoke(app, ["keys", "revoke", key[:8], *home]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", "nope", *home]).exit_code == 2


def test_models_create_and_import(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console

    import docloop.cli
    from docloop.samples import PLATES

    monkeypatch.setattr(docloop.cli, "console", Console(width=300))

    home = ["--home", str(tmp_path)]
    created = runner.invoke(app, ["models", "create", "--labels", "number_plate", *home])
    assert created.exit_code == 0, created.output
    model_id = created.stdout.strip()
    small = tmp_path / "data"
    (small / "images").mkdir(parents=True)
    (small / "annotations").mkdir()
    for ann in sorted((PLATES / "annotations").glob("*.json"))[:2]:
        (small / "annotations" / ann.name).write_bytes(ann.read_bytes())
        img = PLATES / "images" / f"{ann.stem}.jpg"
        (small / "images" / img.name).write_bytes(img.read_bytes())
    imported = runner.invoke(app, ["import", str(small), "--model", model_id, *home])
    assert imported.exit_code == 0 and "imported 2 file(s)" in imported.output, imported.output
    listed = runner.invoke(app, ["models", "list", *home])
    assert model_id in listed.output and "number_plate (2)" in listed.output
    untrained = runner.invoke(app, ["annotate-next", model_id[:8], *home])
    assert untrained.exit_code == 2 and "not trained yet" in untrained.stderr, untrained.output


def test_demo_stops_at_once_when_its_port_is_taken(tmp_path: Path) -> None:
    """The demo once trained and printed a URL and key for a port another program held."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = runner.invoke(app, ["demo", "--port", str(port), "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.output
    listed = runner.invoke(app, ["models", "list", "--home", str(tmp_path)])
    assert "demo" not in listed.stdout
