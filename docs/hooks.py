"""MkDocs hooks: the reference pages are generated from the code at every build.

- ``reference/api.md`` and ``reference/openapi.json`` from ``create_app(...).openapi()``;
- ``reference/cli.md`` from the typer app;
- ``reference/configuration.md`` from ``Settings`` (a setting without a description is a
  warning, so ``mkdocs build --strict`` fails until it is documented).

Nothing is written to the source tree: the pages exist only in the built site.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.plugins.docloop")


def on_files(files: Files, config: Any) -> Files:
    document = _openapi()
    pages = {
        "reference/api.md": _api_markdown(document),
        "reference/openapi.json": json.dumps(document, indent=1),
        "reference/cli.md": _cli_markdown(),
        "reference/configuration.md": _settings_markdown(),
    }
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files


# --- API ---------------------------------------------------------------------------------------


def _openapi() -> dict[str, Any]:
    from docloop.api.app import create_app
    from docloop.config import Settings

    with tempfile.TemporaryDirectory() as home:
        return create_app(Settings(home=Path(home), inprocess_worker=False)).openapi()


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return "`" + schema["$ref"].rsplit("/", 1)[-1] + "`"
    if "anyOf" in schema:
        return " or ".join(_schema_text(s) for s in schema["anyOf"])
    kind = schema.get("type", "object")
    if kind == "array":
        return "list of " + _schema_text(schema.get("items", {}))
    return f"{kind}" + (f" ({schema['format']})" if "format" in schema else "")


def _answer_text(response: dict[str, Any]) -> str:
    """A response's body: its schema for JSON, else its media types."""
    content = response.get("content", {})
    if "application/json" in content:
        return f" ({_schema_text(content['application/json'].get('schema', {}))})"
    return f" (`{'`, `'.join(content)}`)" if content else ""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _api_markdown(document: dict[str, Any]) -> str:
    out = [
        "# HTTP API reference",
        "",
        "Generated from docloop's OpenAPI document at each build "
        "([openapi.json](openapi.json)); a running server shows the same at `/docs` "
        "(Swagger UI, to try calls) and `/redoc`. Every call takes an API key, as HTTP Basic "
        "user name with an empty password (`curl -u KEY:`) or as `Authorization: Bearer KEY`. "
        'Errors are JSON: `{"message": "...", "error": "NotFound"}` with a 4xx status.',
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
    titles = {
        "nanonets-v2": "Nanonets v2 (compatible)",
        "native": "Native API",
        "ops": "Operations",
    }
    for tag, ops in by_tag.items():
        out += [f"## {titles.get(tag, tag)}", ""]
        for method, path, op in ops:
            out += [f"### `{method.upper()} {path}`", ""]
            if op.get("description"):
                out += [op["description"].strip(), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required |", "|---|---|---|---|"]
                for p in params:
                    out.append(
                        f"| `{p['name']}` | {p['in']} | {_schema_text(p.get('schema', {}))}"
                        f" | {'yes' if p.get('required') else 'no'} |"
                    )
                out.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                schema = content.get("schema", {})
                out.append(f"Request body (`{media}`): {_schema_text(schema)}")
                out.append("")
                props = schema.get("properties", {})
                if props:
                    out += ["| part | type | meaning |", "|---|---|---|"]
                    for name, prop in props.items():
                        out.append(
                            f"| `{name}` | {_schema_text(prop)} | "
                            f"{_cell(prop.get('description', ''))} |"
                        )
                    out.append("")
                    for name, prop in props.items():
                        if "example" in prop:
                            out += [f"Example `{name}`:", "", "```json", prop["example"], "```", ""]
            codes = ", ".join(
                f"{code} {r.get('description', '')}".rstrip(".") + _answer_text(r)
                for code, r in op["responses"].items()
            )
            out += [f"Responses: {codes}.", ""]
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        out += ["## Schemas", ""]
        for name, schema in schemas.items():
            out += [f"### `{name}`", ""]
            props = schema.get("properties", {})
            required = set(schema.get("required", []))
            if props:
                out += ["| field | type | required | meaning |", "|---|---|---|---|"]
                for field, prop in props.items():
                    out.append(
                        f"| `{field}` | {_schema_text(prop)} | "
                        f"{'yes' if field in required else 'no'} | "
                        f"{_cell(prop.get('description', ''))} |"
                    )
                out.append("")
    return "\n".join(out)


# --- CLI ---------------------------------------------------------------------------------------


def _cli_markdown() -> str:
    import typer

    from docloop.cli import app

    root = typer.main.get_command(app)
    out = [
        "# CLI reference",
        "",
        "Generated from the `docloop` command at each build. Every command says on stderr which "
        "home (or server URL) it uses; ids may be given whole or by a unique prefix; a mistake "
        "is one line on stderr and exit status 2. `docloop COMMAND --help` shows the same.",
        "",
    ]
    _cli_command(root, ["docloop"], out)
    return "\n".join(out)


def _cli_command(command: Any, path: list[str], out: list[str]) -> None:
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name in subcommands:
            _cli_command(subcommands[name], [*path, name], out)
        return
    args = [p for p in command.params if p.param_type_name == "argument"]
    usage = " ".join([*path, *(a.name.upper() for a in args), "[OPTIONS]"])
    out += [f"## `{' '.join(path[1:])}`", "", f"```\n{usage}\n```", ""]
    if command.help:
        out += [command.help.strip(), ""]
    options = [p for p in command.params if p.param_type_name == "option"]
    if options:
        out += ["| option | default | meaning |", "|---|---|---|"]
        for p in options:
            names = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
            default = "" if p.default is None or p.required else f"`{p.default}`"
            env = f" (env `{p.envvar}`)" if p.envvar else ""
            out.append(f"| {names} | {default} | {_cell(p.help or '')}{env} |")
        out.append("")


# --- settings ------------------------------------------------------------------------------------


def _settings_markdown() -> str:
    from docloop.config import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    out = [
        "# Configuration",
        "",
        "docloop reads its settings from the environment once at start-up. Generated from "
        "`docloop.config.Settings` at each build.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        variable = alias or (prefix + name).upper()
        if field.default_factory is not None:
            default = "computed"
        else:
            default = "unset" if field.default in (None, "") else f"`{field.default}`"
        if not field.description:
            log.warning("setting %s has no description: say what it does in config.py", name)
        out.append(f"| `{variable}` | {default} | {_cell(field.description or '')} |")
    return "\n".join(out) + "\n"
