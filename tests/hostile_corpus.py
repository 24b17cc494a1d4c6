"""Generate the hostile-input corpus: small exports that each carry one hostile input.

Run ``python tests/hostile_corpus.py DIR`` to write the corpus into ``DIR`` (one folder per
case), or call :func:`build` (the tests do, into a temporary folder). Every case starts
from the same generated export of 20 episodes and changes one thing. A case is a
:class:`Case`: its folder, the text that must never be printed (``secret``; empty when
none), the exit code ``validate`` must give, and the rule the problems must name.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dnoutcomes.sample import generate


@dataclass(frozen=True)
class Case:
    """One hostile export."""

    name: str
    path: Path
    secret: str
    exit_code: int
    rule: str


PHONES = ("07946095800", "+447946095800", "+15551234567", "00447946095800")
NUMBER_CELLS = (
    ("patients", "symptom_weeks"),
    ("sessions", "duration_min"),
    ("sessions", "needles"),
    ("adverse_events", "resolved_days"),
    ("outcomes", "value"),
)
DISGUISED = {
    "email_fullwidth_at": "jo.bloggs＠example.com",
    "email_zero_width": "jo.bloggs@exa\u200bmple.com",
    "email_zero_width_at": "jo.bloggs\u200b@\u200bexample.com",
    "email_at_brackets": "jo.bloggs[at]example.com",
    "email_at_dot_words": "jo.bloggs (at) example (dot) com",
    "email_spaces": "jo.bloggs @ example.com",
    "email_cyrillic": "jо.blоggs@ехаmple.соm",
    "phone_brackets": "(020) 7946 0958",
    "phone_brackets_intl": "+44 (0)20 7946 0958",
    "phone_slashes": "020/7946/0958",
    "phone_en_dash": "020–7946–0958",
    "phone_minus_sign": "555−123−4567",
    "phone_fullwidth": "０７９４６０９５８００",
    "phone_zero_width": "0794\u200b6095800",
    "ssn_dots": "123.45.6789",
    "ssn_en_dash": "123–45–6789",
    "dob_words": "DOB 1931-04-02",
}
NAMES = (
    "pt_name",
    "client_name",
    "fname",
    "lname",
    "birth_dt",
    "date_birth",
    "yob",
    "tel_no",
    "cell_no",
    "phone1",
    "email1",
    "nhs_no",
    "ss_no",
    "med_rec_no",
    "hospital_number",
    "zip5",
    "postal",
    "addr1",
    "ip_addr",
    "insurance_id",
    "passport_no",
    "ｅｍａｉｌ",
    "em\u0430il",
)


def base_export(root: Path) -> Path:
    """The valid export every case starts from (CSV, 20 episodes)."""
    folder = root / "base"
    if not folder.exists():
        generate(episodes=20, seed=7).write(folder)
        (folder / "truth.json").unlink(missing_ok=True)
    return folder


def _copy(base: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(base, target)
    return target


def _read(folder: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{table}.csv", dtype="str", keep_default_na=False)


def _write(folder: Path, table: str, frame: pd.DataFrame, sep: str = ",") -> None:
    (folder / f"{table}.csv").unlink(missing_ok=True)
    frame.to_csv(folder / f"{table}.csv", index=False, sep=sep)


def _set_cell(folder: Path, table: str, column: str, value: str, sep: str = ",") -> None:
    frame = _read(folder, table)
    frame.loc[frame.index[0], column] = value
    _write(folder, table, frame, sep)


def _extra(folder: Path, table: str, column: str, value: str) -> None:
    frame = _read(folder, table)
    frame[column] = ""
    frame.loc[frame.index[0], column] = value
    _write(folder, table, frame)


def build(root: Path) -> list[Case]:
    """Write every case under ``root``; returns the cases."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = base_export(root)
    cases: list[Case] = []
    for table, column in NUMBER_CELLS:  # every number column, comma and semicolon
        for sep, tag in ((",", "comma"), (";", "semicolon")):
            name = f"phone_in_{column}_{tag}"
            folder = _copy(base, root, name)
            _set_cell(folder, table, column, PHONES[0], sep)
            cases.append(Case(name, folder, PHONES[0], 1, "identifier_value"))
    for k, phone in enumerate(PHONES[1:], start=1):  # every way of writing a number
        name = f"phone_in_value_{k}"
        folder = _copy(base, root, name)
        _set_cell(folder, "outcomes", "value", phone)
        cases.append(Case(name, folder, phone, 1, "identifier_value"))
    # one row per disguise, in an extra column: each must be caught, none shown
    folder = _copy(base, root, "disguised_values")
    frame = _read(folder, "patients")
    frame["note"] = ""
    frame.loc[frame.index[: len(DISGUISED)], "note"] = [
        f"contact {v} today" for v in DISGUISED.values()
    ]
    _write(folder, "patients", frame)
    cases.append(Case("disguised_values", folder, "", 1, "identifier_value"))
    # every easy-to-miss identifier name as an extra column
    folder = _copy(base, root, "identifier_names")
    frame = _read(folder, "patients")
    for header in NAMES:
        frame[header] = "x"
    _write(folder, "patients", frame)
    cases.append(Case("identifier_names", folder, "", 1, "identifier_column"))
    email = "jo.bloggs@example.com"
    folder = _copy(base, root, "header_email")
    _extra(folder, "patients", email, "1")
    cases.append(Case("header_email", folder, email, 1, "identifier_column"))
    folder = _copy(base, root, "header_email_missing_column")
    frame = _read(folder, "patients").drop(columns="sex")
    frame[email] = ""
    _write(folder, "patients", frame)
    cases.append(Case("header_email_missing_column", folder, email, 1, "missing_column"))
    phone_header = "+44 20 7946 0958"
    folder = _copy(base, root, "wide_phone_header")
    long = _read(folder, "outcomes")
    wide = long.pivot_table(
        index=["episode_id", "session_id", "assessed_on", "timepoint"],
        columns="measure",
        values="value",
        aggfunc="first",
    ).reset_index()
    wide.columns.name = None
    wide[phone_header] = "3"
    _write(folder, "outcomes", wide)
    cases.append(Case("wide_phone_header", folder, phone_header, 1, "identifier_column"))
    folder = _copy(base, root, "exact_age_95")
    frame = _read(folder, "patients")
    frame["exact_age"] = "40"
    frame.loc[frame.index[0], ["age", "exact_age"]] = ["90+", "95"]
    _write(folder, "patients", frame)
    cases.append(Case("exact_age_95", folder, "", 1, "age_not_top_coded"))
    folder = _copy(base, root, "control_sequences")
    _set_cell(folder, "patients", "sex", "\x1b[2J\x1b]8;;http://x\x07\u202eevil")
    cases.append(Case("control_sequences", folder, "\x1b", 1, "unknown_category"))
    folder = _copy(base, root, "date_1600")
    _set_cell(folder, "episodes", "start_date", "1600-01-02")
    cases.append(Case("date_1600", folder, "", 1, "out_of_range"))
    folder = _copy(base, root, "parquet_invalid_utf8")
    patients = pa.Table.from_pandas(_read(folder, "patients"), preserve_index=False)
    bad = pa.array([b"\xff\xfe"] * patients.num_rows, pa.binary()).view(pa.string())
    patients = patients.set_column(patients.schema.get_field_index("sex"), "sex", bad)
    pq.write_table(patients, folder / "patients.parquet")
    (folder / "patients.csv").unlink()
    cases.append(Case("parquet_invalid_utf8", folder, "", 2, "unreadable"))
    if sys.platform != "win32":
        folder = _copy(base, root, "symlink_to_system_file")
        secret_file = root / "outside.txt"
        secret_file.write_text("root-secret:x:0:0:line one\n", encoding="utf-8")
        (folder / "patients.csv").unlink()
        os.symlink(secret_file, folder / "patients.csv")
        cases.append(Case("symlink_to_system_file", folder, "root-secret", 2, "unreadable"))
        odd = os.fsencode(str(root)) + b"/not-utf8-\xff-folder"
        shutil.copytree(_copy(base, root, "odd_path_source"), os.fsdecode(odd))
        odd_folder = Path(os.fsdecode(odd))
        _set_cell(odd_folder, "patients", "symptom_weeks", PHONES[0])
        cases.append(Case("non_utf8_path", odd_folder, PHONES[0], 1, "identifier_value"))
    return cases


if __name__ == "__main__":  # pragma: no cover
    built = build(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile_corpus"))
    print(f"{len(built)} cases written")
