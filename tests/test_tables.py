"""tables.py: samples, token records and metrics as rows, written as JSON or CSV and read back."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygpt_tui import tables
from tinygpt_tui.config import TinyGPTError
from tinygpt_tui.records import Alternative, TokenRecord

HOSTILE = ['plain', 'lone\rcr', 'a,b', 'say "hi"', 'two\nlines', 'cr\r\nlf', '=1+1', '[bold]x[/]', '', ' ', 'é☃', '\t', '"', ',']


def record(i: int, text: str, sample: int = 0, alts: int = 2, prob: float = 0.25) -> TokenRecord:
    data = text.encode("utf-8")
    return TokenRecord(index=i, sample=sample, id=100 + i, bytes=data, piece=f"Ġ{text}", hex=data.hex(" "),
                       text=text, display=text, prob=prob, logprob=-1.3862943611198906, prob_sampled=0.5,
                       surprisal_bits=2.0, entropy_bits=1.5, rank=1 + i % 3,
                       alternatives=[Alternative(id=j, piece=f"p{j},\"", text=f"t{j}\n", prob=0.1 / (j + 1))
                                     for j in range(alts)],
                       finish="eot" if i == 99 else None)


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def as_cells(rows) -> list[dict[str, str]]:
    """What a CSV reader gives back for ``rows``: every flat cell as text, None as empty."""
    flat = [tables.flat_row(r) for r in rows]
    columns = list(dict.fromkeys(k for r in flat for k in r))
    return [{c: "" if r.get(c) is None else str(r[c]) for c in columns} for r in flat]


def test_token_rows_hold_every_field_of_a_record():
    recs = [record(0, "Once"), record(1, "a,b", alts=3)]
    rows = tables.token_rows(recs)
    assert rows[1]["sample"] == 1 and rows[1]["token"] == 2  # numbered from 1, as everywhere
    assert rows[1]["id"] == 101 and rows[1]["text"] == "a,b" and rows[1]["piece"] == "Ġa,b"
    assert rows[1]["bytes_hex"] == "61 2c 62" and rows[1]["prob"] == 0.25
    assert rows[1]["logprob"] == recs[1].logprob and rows[1]["rank"] == 2
    assert [a["id"] for a in rows[1]["alternatives"]] == [0, 1, 2]
    assert tables.flat_row(rows[1])["alt3_piece"] == "p2,\""


@pytest.mark.parametrize("ext", ["csv", "json", "CSV"])
def test_hostile_tokens_round_trip(tmp_path, ext):
    recs = [record(i, text, sample=i % 2, alts=i % 3) for i, text in enumerate(HOSTILE)]
    recs[3].prob = float("nan")  # not measured: empty in CSV, null in JSON
    rows = tables.token_rows(recs)
    path = tables.write_table(tmp_path / f"t.{ext}", rows)
    if ext.lower() == "csv":
        back = read_csv(path)
        assert back == as_cells(rows)
        assert [r["text"] for r in back] == HOSTILE and back[3]["prob"] == ""
        assert float(back[0]["logprob"]) == recs[0].logprob  # numbers come back exact
    else:
        back = json.loads(path.read_text(encoding="utf-8"))
        assert back == rows and back[3]["prob"] is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), min_size=1, max_size=8))
def test_any_text_round_trips_through_csv(texts):
    rows = tables.token_rows([record(i, t) for i, t in enumerate(texts)])
    text = tables.csv_text(rows)
    assert list(csv.DictReader(io.StringIO(text, newline=""))) == as_cells(rows)


def test_sample_rows_join_each_samples_text():
    recs = [record(0, "a"), record(1, "b\n", sample=0), record(0, "c", sample=1), record(99, "d", sample=1)]
    rows = tables.sample_rows("Once, \"upon\"", recs)
    assert rows == [
        {"sample": 1, "prompt": "Once, \"upon\"", "text": "ab\n", "tokens": 2, "finish": ""},
        {"sample": 2, "prompt": "Once, \"upon\"", "text": "cd", "tokens": 2, "finish": "eot"},
    ]


def test_metric_rows_keep_steps_and_evaluations_with_every_column(tmp_path):
    events = [{"event": "stage", "stage": "corpus"},
              {"event": "step", "step": 5, "loss": 3.1, "lr": 0.001},
              {"event": "sample", "step": 5, "text": "hi"},
              {"event": "eval", "step": 5, "val_loss": 3.3, "val_bpb": float("nan"), "extra": {"a": [1]}},
              {"event": "step", "step": 10, "loss": 2.9, "lr": 0.002}]
    rows = tables.metric_rows(events)
    assert [r["event"] for r in rows] == ["step", "eval", "step"]
    assert list(rows[0]) == ["event", "step", "loss", "lr", "val_loss", "val_bpb", "extra"]
    assert rows[1]["loss"] is None and rows[1]["val_bpb"] is None and rows[1]["extra"] == '{"a": [1]}'
    back = read_csv(tables.write_table(tmp_path / "m.csv", rows))
    assert back == as_cells(rows) and back[2]["loss"] == "2.9"


def test_writing_refuses_an_unknown_format_an_existing_file_and_a_missing_folder(tmp_path):
    rows = [{"a": 1}]
    with pytest.raises(TinyGPTError, match="Cannot tell the format of 'x.txt'") as e:
        tables.write_table(tmp_path / "x.txt", rows)
    assert ".json or .csv" in e.value.hint
    (tmp_path / "taken.csv").write_text("precious")
    with pytest.raises(TinyGPTError, match="already exists"):
        tables.write_table(tmp_path / "taken.csv", rows)
    assert (tmp_path / "taken.csv").read_text() == "precious"
    with pytest.raises(TinyGPTError, match="There is no folder"):
        tables.write_table(tmp_path / "nowhere" / "x.json", rows)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.csv"]  # no temporary file left
