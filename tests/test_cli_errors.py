"""CLI fit and finish: one-line mistakes with exit status 2, whole ids and prefixes, the home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docloop.cli import app
from docloop.errors import InvalidInput, NotFound
from docloop.services import prefixes

runner = CliRunner()
UNKNOWN = "0123abcd-no-such-id"


def _home(tmp_path: Path) -> list[str]:
    return ["--home", str(tmp_path / "home")]


# Each command with one bad argument: an unknown id, a missing file or folder, a bad option.
MISTAKES = [
    ["models", "list", "--bogus"],
    ["models", "create"],
    ["models", "promote", UNKNOWN, "--version", "1"],
    ["models", "promote", UNKNOWN, "--version", "one"],
    ["models", "rollback", UNKNOWN],
    ["models", "versions", UNKNOWN],
    ["datasets", "list", UNKNOWN],
    ["datasets", "diff", UNKNOWN, "a", "b"],
    ["runs", "list", UNKNOWN],
    ["runs", "show", UNKNOWN],
    ["runs", "compare", UNKNOWN, UNKNOWN + "2"],
    ["keys", "revoke", UNKNOWN],
    ["keys", "create"],
    ["users", "create", "--email", "a@example.com", "--role", "pilot", "--password", "x" * 12],
    ["upload", "missing-folder", "--model", UNKNOWN],
    ["import", "missing-folder", "--model", UNKNOWN],
    ["train", UNKNOWN, "--no-wait"],
    ["predict", UNKNOWN, "missing.jpg"],
    ["serve", "--port", "eighty"],
    ["worker", "--max-jobs", "many"],
    ["demo", "--port", "eighty"],
]


@pytest.mark.parametrize("argv", MISTAKES, ids=lambda a: " ".join(a[:2]))
def test_every_mistake_is_one_line_and_status_2(argv: list[str], tmp_path: Path) -> None:
    result = runner.invoke(app, [*argv, *_home(tmp_path)])
    assert result.exit_code == 2, (argv, result.output)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("home: ")]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output


def test_a_long_refusal_stays_one_line(tmp_path: Path) -> None:
    home = _home(tmp_path)
    model_id = runner.invoke(app, ["models", "create", "--labels", "x", *home]).stdout.strip()
    (tmp_path / "notes.jpg").write_text("not a picture")
    result = runner.invoke(
        app, ["predict", model_id, str(tmp_path / "notes.jpg"), *home], terminal_width=40
    )
    assert result.exit_code == 2 and result.stderr.count("\n") == 2, result.output
    assert "not trained yet" in result.stderr


def test_ids_whole_prefixes_and_json(tmp_path: Path) -> None:
    home = _home(tmp_path)
    ids = [
        runner.invoke(app, ["models", "create", "--labels", f"l{i}", *home]).stdout.strip()
        for i in range(2)
    ]
    assert all(len(i) == 36 for i in ids)
    table = runner.invoke(app, ["models", "list", *home], terminal_width=80)
    assert all(i in table.stdout for i in ids), table.stdout
    listed = json.loads(runner.invoke(app, ["models", "list", "--json", *home]).stdout)
    assert [m["id"] for m in listed] == ids and listed[0]["categories"][0]["name"] == "l0"
    shown = runner.invoke(app, ["models", "versions", ids[1][:6], *home])
    assert shown.exit_code == 0, shown.output
    empty = runner.invoke(app, ["models", "versions", "", *home])
    assert empty.exit_code == 2 and "no model with id" in empty.stderr


def test_an_ambiguous_prefix_is_refused() -> None:
    ids = ["ab12-x", "ab34-y", "cd56-z"]
    assert prefixes.match("ab1", ids, "model") == "ab12-x"
    assert prefixes.match("cd56-z", ids, "model") == "cd56-z"
    with pytest.raises(InvalidInput, match="'ab' starts 2 model ids"):
        prefixes.match("ab", ids, "model")
    with pytest.raises(NotFound):
        prefixes.match("ef", ids, "model")


def test_the_home_is_the_user_data_folder_and_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI once made an empty .docloop in whatever folder it ran from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOCLOOP_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert f"home: {tmp_path / 'data' / 'docloop'}" in result.stderr
    assert not (tmp_path / ".docloop").exists()
    monkeypatch.setenv("DOCLOOP_HOME", str(tmp_path / "elsewhere"))
    assert f"home: {tmp_path / 'elsewhere'}" in runner.invoke(app, ["keys", "list"]).stderr
