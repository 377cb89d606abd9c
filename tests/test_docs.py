"""The README and the docs site say what the code does: every key, every public name."""

from __future__ import annotations

import re
import shlex
import tomllib

from conftest import ROOT

import hpo
from hpo import spec
from hpo.space import DIMENSIONS

DOCS = ROOT / "docs"


def first_column_names(markdown: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", markdown, flags=re.M))


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_study_file_reference_lists_every_key_the_spec_accepts():
    listed = first_column_names((DOCS / "study-files.md").read_text())
    tables = {"data", "budget", "sampler", "pruner", "space", "objective"}
    accepted = (spec._TOP_KEYS - tables) | spec._DATA_KEYS | spec._OBJECTIVE_KEYS \
        | spec._BUDGET_KEYS | set(DIMENSIONS) | {"name"}
    assert accepted - listed == set(), "keys the spec accepts but the reference does not list"
    assert listed - accepted == set(), "keys the reference lists but the spec does not accept"


def test_every_public_name_has_an_api_reference_entry():
    page = (DOCS / "api.md").read_text()
    documented = set(re.findall(r"^::: hpo\.[a-z_]+\.(\w+)$", page, flags=re.M))
    assert set(hpo.__all__) - {"__version__"} <= documented


def test_the_readme_study_file_is_a_valid_study(tmp_path):
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    tomllib.loads(block)
    path = ROOT / "examples" / "breast_cancer.toml"  # the README's block is its short form
    (tmp_path / "readme.toml").write_text(block)
    parsed = spec.load_spec(str(tmp_path / "readme.toml"))
    assert parsed.data.dataset == "csv" and parsed.metric == "val_auc"
    assert parsed.model == spec.load_spec(str(path)).model


def test_every_hpo_command_in_the_readme_and_getting_started_parses():
    from hpo.cli import COMMANDS
    from hpo.run import build_parser

    text = (ROOT / "README.md").read_text() + (DOCS / "getting-started.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            for part in line.split("&&"):
                words = shlex.split(part)
                if words[:3] == ["python", "-m", "hpo.run"]:
                    commands.append(["run", *words[3:]])
                elif words[:1] == ["hpo"]:
                    commands.append(words[1:])
    assert len(commands) >= 3
    for words in commands:
        assert words[0] in COMMANDS, words
        if words[0] == "run":
            build_parser().parse_args(words[1:])  # exits 2 on an unknown flag
