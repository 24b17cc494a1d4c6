"""The hostile-input corpus (tests/hostile_corpus.py) through every command: exit 1 or 2,
no traceback, no identifier echoed, inputs unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.cli import main

sys.path.insert(0, str(Path(__file__).parent))
import hostile_corpus

pytestmark = pytest.mark.filterwarnings("ignore::dnoutcomes.errors.DataQualityWarning")


def _digest(folder: Path) -> dict[str, str]:
    out = {}
    for file in sorted(folder.iterdir()):
        if file.is_symlink():
            out[file.name] = "link:" + os.readlink(file)
        elif file.is_file():
            out[file.name] = hashlib.sha256(file.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, hostile_corpus.Case]:
    cases = hostile_corpus.build(tmp_path_factory.mktemp("hostile"))
    return {c.name: c for c in cases}


@pytest.fixture(scope="module")
def digests(corpus: dict[str, hostile_corpus.Case]) -> dict[str, dict[str, str]]:
    return {name: _digest(case.path) for name, case in corpus.items()}


def run_parts(*argv: str) -> tuple[int, str, str]:
    """The command line in-process: exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def run(*argv: str) -> tuple[int, str]:
    """The command line in-process: exit code and everything it printed."""
    code, out, err = run_parts(*argv)
    return code, out + err


def _check(case: hostile_corpus.Case, code: int, text: str, codes: tuple[int, ...]) -> list[str]:
    wrong = []
    if code not in codes:
        wrong.append(f"{case.name}: exit {code}, expected {codes}")
    if "Traceback" in text:
        wrong.append(f"{case.name}: traceback")
    if case.secret and case.secret in text:
        wrong.append(f"{case.name}: the identifier was printed")
    return wrong


@pytest.mark.slow
def test_validate_refuses_every_case_without_echo(
    corpus: dict[str, hostile_corpus.Case], digests: dict[str, dict[str, str]]
) -> None:
    wrong: list[str] = []
    for case in corpus.values():
        code, text = run("validate", str(case.path))
        wrong += _check(case, code, text, (case.exit_code,))
        # the document is stdout alone: on a busy machine a progress line ("checking
        # PATH…", after 2 s) goes to stderr, and parsing both failed now and then
        code, doc, err = run_parts("validate", "--json", str(case.path))
        wrong += _check(case, code, doc + err, (case.exit_code,))
        rules = {p["rule"] for p in json.loads(doc)["problems"]}
        if case.rule not in rules:
            wrong.append(f"{case.name}: {case.rule} not in {sorted(rules)}")
        if _digest(case.path) != digests[case.name]:
            wrong.append(f"{case.name}: input changed")
    assert wrong == []


# analyze, figures and report load in strict mode: every case stops at the load
OTHER_CASES = (
    "phone_in_symptom_weeks_comma",
    "phone_in_value_1",
    "disguised_values",
    "identifier_names",
    "header_email",
    "wide_phone_header",
    "exact_age_95",
    "control_sequences",
    "date_1600",
    "parquet_invalid_utf8",
    "symlink_to_system_file",
    "non_utf8_path",
)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["analyze", "figures", "report"])
def test_other_commands_refuse_the_cases(
    command: str,
    corpus: dict[str, hostile_corpus.Case],
    digests: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    wrong: list[str] = []
    for name in OTHER_CASES:
        case = corpus[name]
        extra = {
            "analyze": ["--json"],
            "figures": ["--out", str(tmp_path / "figs")],
            "report": ["--out", str(tmp_path / "r.html")],
        }[command]
        code, text = run(command, str(case.path), *extra)
        wrong += _check(case, code, text, (1, 2))
        if "\x1b" in text:
            wrong.append(f"{name}: control character printed")
        if _digest(case.path) != digests[name]:
            wrong.append(f"{name}: input changed")
    assert wrong == []
    assert not (tmp_path / "r.html").exists()


def test_phone_numbers_in_number_columns_are_caught_on_the_fast_path(
    corpus: dict[str, hostile_corpus.Case],
) -> None:
    for table, column in hostile_corpus.NUMBER_CELLS:
        report = dnoutcomes.validate(corpus[f"phone_in_{column}_comma"].path)
        found = report.problems[report.problems["rule"] == "identifier_value"]
        assert found[["table", "column", "line"]].values.tolist() == [[table, column, 2]]
        assert not report.problems["message"].str.contains("7946").any()


def test_every_disguise_is_caught_and_withheld(corpus: dict[str, hostile_corpus.Case]) -> None:
    report = dnoutcomes.validate(corpus["disguised_values"].path, mode="quarantine")
    found = report.problems[report.problems["rule"] == "identifier_value"]
    assert sorted(found["line"]) == list(range(2, 2 + len(hostile_corpus.DISGUISED)))
    assert set(found["column"]) == {"note"}
    text = "\n".join(report.problems["message"])
    assert report.dataset is not None
    text += report.dataset.rejects.to_string()
    for value in hostile_corpus.DISGUISED.values():
        assert value not in text


def test_every_identifier_name_is_refused(corpus: dict[str, hostile_corpus.Case]) -> None:
    report = dnoutcomes.validate(corpus["identifier_names"].path)
    refused = set(report.problems.loc[report.problems["rule"] == "identifier_column", "column"])
    assert refused == {n.strip().lower() for n in hostile_corpus.NAMES}


def test_the_allow_list_lets_named_columns_through(corpus: dict[str, hostile_corpus.Case]) -> None:
    path = corpus["identifier_names"].path
    upper = [n.upper() for n in hostile_corpus.NAMES]  # compared case-insensitively
    assert dnoutcomes.validate(path, allow_columns=upper).valid
    code, _ = run("validate", str(path), *[f"--allow-column={n}" for n in hostile_corpus.NAMES])
    assert code == 0
    # values in an allowed column are still screened
    values = corpus["disguised_values"].path
    report = dnoutcomes.validate(values, allow_columns=["note"])
    assert "identifier_value" in set(report.problems["rule"])
    # a header that looks like a value is never allowed
    email = corpus["header_email"].path
    assert not dnoutcomes.validate(email, allow_columns=["jo.bloggs@example.com"]).valid
    with pytest.raises(dnoutcomes.errors.RequestError, match="allow_columns"):
        dnoutcomes.validate(path, allow_columns=[3])  # type: ignore[list-item]


def test_headers_that_look_like_values_are_never_shown(
    corpus: dict[str, hostile_corpus.Case],
) -> None:
    for name in ("header_email", "header_email_missing_column", "wide_phone_header"):
        case = corpus[name]
        report = dnoutcomes.validate(case.path)
        shown = report.problems.to_string() + json.dumps(report.to_dict())
        assert case.secret not in shown
        assert case.secret.lower() not in shown
        assert "(name not shown)" in shown
    missing = dnoutcomes.validate(corpus["header_email_missing_column"].path)
    message = missing.problems.loc[missing.problems["rule"] == "missing_column", "message"]
    assert message.str.contains("patient_id, site_id").all()
    wide = dnoutcomes.validate(corpus["wide_phone_header"].path)
    assert "unknown_measure" not in set(wide.problems["rule"])


def test_exact_age_in_an_extra_column_is_refused(corpus: dict[str, hostile_corpus.Case]) -> None:
    report = dnoutcomes.validate(corpus["exact_age_95"].path)
    found = report.problems[report.problems["rule"] == "age_not_top_coded"]
    assert found[["column", "line"]].values.tolist() == [["exact_age", 2]]
    assert "95" not in found["message"].iloc[0]


def test_a_date_of_1600_is_a_date_out_of_range(corpus: dict[str, hostile_corpus.Case]) -> None:
    report = dnoutcomes.validate(corpus["date_1600"].path)
    rules = report.problems.loc[report.problems["column"] == "start_date", "rule"]
    assert rules.tolist() == ["out_of_range"]


def test_control_sequences_are_not_printed(corpus: dict[str, hostile_corpus.Case]) -> None:
    code, text = run("validate", str(corpus["control_sequences"].path))
    assert code == 1
    assert "unknown_category" in text
    assert not any(ch in text for ch in "\x1b\x07\u202e")
    code, doc, err = run_parts("validate", "--json", str(corpus["control_sequences"].path))
    assert not any(ch in doc + err for ch in "\x1b\x07\u202e")
    messages = [p["message"] for p in json.loads(doc)["problems"]]
    assert any("\x1b[2J" in m for m in messages)  # JSON keeps the cell, escaped


def test_json_on_stdout_stays_a_document_when_progress_is_shown(
    corpus: dict[str, hostile_corpus.Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    import dnoutcomes.cli.validate as command
    from dnoutcomes.cli._progress import Progress

    # every step "slow": the progress lines appear, as on a busy machine
    monkeypatch.setattr(command, "Progress", functools.partial(Progress, after=0.0))
    code, doc, err = run_parts("validate", "--json", str(corpus["identifier_names"].path))
    assert code == 1
    assert "checking" in err
    assert json.loads(doc)["valid"] is False


def test_symlinked_tables_are_refused_unless_followed(
    corpus: dict[str, hostile_corpus.Case],
) -> None:
    path = corpus["symlink_to_system_file"].path
    with pytest.raises(dnoutcomes.errors.UnreadableInputError, match="symbolic link"):
        dnoutcomes.validate(path)
    assert not dnoutcomes.validate(path, follow_symlinks=True).valid  # read, then checked
    code, _ = run("validate", "--follow-symlinks", str(path))
    assert code == 1


# every command that loads an export, with the arguments it needs besides PATH
LOADING_COMMANDS = {
    "validate": [],
    "analyze": ["--json"],
    "figures": ["--out", "{tmp}/figs"],
    "report": ["--out", "{tmp}/r.html"],
    "tables": ["--out", "{tmp}/tables", "--format", "md"],
}


@pytest.fixture
def with_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tables`` on the command line (test-local until cli.SUBCOMMANDS lists it)."""
    import dnoutcomes.cli as cli

    if "tables" not in cli.SUBCOMMANDS:
        monkeypatch.setattr(cli, "SUBCOMMANDS", (*cli.SUBCOMMANDS, "tables"))


@pytest.mark.usefixtures("with_tables")
@pytest.mark.parametrize("command", sorted(LOADING_COMMANDS))
def test_every_loading_command_follows_symlinks_only_when_told(
    command: str,
    corpus: dict[str, hostile_corpus.Case],
    digests: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    case = corpus["symlink_to_system_file"]
    extra = [a.format(tmp=tmp_path) for a in LOADING_COMMANDS[command]]
    code, text = run(command, str(case.path), *extra)
    assert code == 2 and "symbolic link" in text, text
    # with the option the linked file is read, then refused by the contract (exit 1)
    # (what a followed file holds is then data like any other: quoted when it passes the
    # identifier screen)
    code, text = run(command, str(case.path), *extra, "--follow-symlinks")
    assert code == 1 and "Traceback" not in text, text
    assert _digest(case.path) == digests[case.name]


@pytest.mark.usefixtures("with_tables")
@pytest.mark.parametrize("command", sorted(LOADING_COMMANDS))
def test_every_loading_command_passes_the_allow_list_on(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dnoutcomes.cli.validate as validate_command

    seen: list[dict[str, object]] = []

    def recorded(path: object, **kwargs: object) -> object:
        seen.append(kwargs)
        raise dnoutcomes.errors.UnreadableInputError("stopped by the test")

    monkeypatch.setattr(dnoutcomes, "load", recorded)
    monkeypatch.setattr(validate_command, "validate", recorded)
    extra = [a.format(tmp=tmp_path) for a in LOADING_COMMANDS[command]]
    code, _ = run(command, str(tmp_path), *extra)
    assert code == 2
    code, _ = run(
        command,
        str(tmp_path),
        *extra,
        "--allow-column",
        "clinic_name",
        "--allow-column=Referrer Name",
        "--follow-symlinks",
    )
    assert code == 2
    assert [(tuple(k["allow_columns"]), k["follow_symlinks"]) for k in seen] == [  # type: ignore[call-overload]
        ((), False),
        (("clinic_name", "Referrer Name"), True),
    ]


@pytest.mark.usefixtures("with_tables")
def test_an_allowed_column_loads_from_the_command_line(tmp_path: Path) -> None:
    from dnoutcomes.sample import generate

    folder = Path(generate(episodes=60, seed=3).write(tmp_path / "export"))
    patients = folder / "patients.csv"
    frame = pd.read_csv(patients, dtype="str", keep_default_na=False)
    frame["postal_area"] = "SW1"  # a district only, which the clinic knows to be safe
    frame.to_csv(patients, index=False)
    code, text = run("tables", str(folder), "--out", str(tmp_path / "t"), "--format", "md")
    assert code == 1 and "postal_area" in text
    code, text = run(
        "tables", str(folder), "--out", str(tmp_path / "t"), "--format", "md",
        "--allow-column", "postal_area",
    )  # fmt: skip
    assert code == 0, text
    assert (tmp_path / "t" / "table1.md").exists()


def test_far_report_periods_are_request_errors(corpus: dict[str, hostile_corpus.Case]) -> None:
    base = str(corpus["date_1600"].path.parent / "base")
    for extra in (["--period", "0001-Q1"], ["--from", "0001-01-01", "--to", "0001-03-01"]):
        code, text = run("report", base, "--out", os.devnull + ".html", *extra)
        assert code == 2
        assert "Traceback" not in text and "between the years" in text


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "dnoutcomes.cli", *argv]


def _env() -> dict[str, str]:
    src = str(Path(dnoutcomes.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": src}


def test_a_closed_pipe_ends_quietly(corpus: dict[str, hostile_corpus.Case]) -> None:
    # ``validate --json | head -c 100``: the reader is gone before the document is written
    proc = subprocess.Popen(
        _cli("validate", "--json", str(corpus["identifier_names"].path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_a_message(corpus: dict[str, hostile_corpus.Case]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            _cli("validate", str(corpus["identifier_names"].path)),
            stdout=full,
            stderr=subprocess.PIPE,
            env=_env(),
            timeout=120,
        )
    err = done.stderr.decode()
    assert done.returncode == 2
    assert "Traceback" not in err and "No space left" in err


def test_an_interruption_names_what_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    import dnoutcomes.cli.validate as command
    from dnoutcomes.cli._output import record_written

    def interrupted(args: object) -> int:
        record_written("out/report.html")
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run", interrupted)
    code, text = run("validate", "anything")
    assert code == 130
    assert "already written: out/report.html" in text and "nothing was written" not in text

    def at_once(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run", at_once)
    code, text = run("validate", "anything")
    assert code == 130 and "nothing was written" in text


def test_no_episode_left_is_named_not_an_empty_list(tmp_path: Path) -> None:
    # quarantine with every episode rejected used to say "expected one of the arms in the
    # dataset: ." (an empty list)
    from dnoutcomes.sample import generate

    folder = Path(generate(episodes=20, seed=7).write(tmp_path / "export"))
    episodes = pd.read_csv(folder / "episodes.csv", dtype="str", keep_default_na=False)
    episodes["start_date"] = "not a date"
    episodes.to_csv(folder / "episodes.csv", index=False)
    for argv in (["analyze"], ["figures", "--out", str(tmp_path / "figs")]):
        code, text = run(*argv, "--quarantine", str(folder))
        assert code == 2, text
        assert "dataset: ." not in text and "no episodes" in text
        assert "Traceback" not in text


@pytest.mark.parametrize("fmt", ["csv", "semicolon_bom", "csv_gz", "parquet", "xlsx"])
def test_the_screen_runs_on_every_reader(fmt: str, tmp_path: Path) -> None:
    """Disguised identifiers in cells and a value-like header, written in every format the
    loader reads: each caught, none shown."""
    from loader_data import small_export, write_export

    tables = small_export()
    patients = tables["patients"].copy()
    secrets = list(hostile_corpus.DISGUISED.values())[: len(patients)]
    patients["note"] = secrets
    header = "jo.bloggs@example.com"
    patients[header] = "1"
    tables["patients"] = patients
    path = write_export(tables, tmp_path / fmt, fmt)  # type: ignore[arg-type]
    report = dnoutcomes.validate(path, mode="quarantine")
    problems = report.problems
    found = problems[(problems["rule"] == "identifier_value") & (problems["column"] == "note")]
    assert len(found) == len(secrets)
    refused = problems.loc[problems["rule"] == "identifier_column", "column"].tolist()
    assert refused == [f"#{len(patients.columns)} (name not shown)"]
    assert report.dataset is not None
    shown = problems.to_string() + json.dumps(report.to_dict(), ensure_ascii=False)
    shown += report.dataset.rejects.to_string()
    for secret in [*secrets, header]:
        assert secret not in shown
