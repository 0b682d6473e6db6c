"""The one user-CSV reader: encodings, delimiters, header spaces and the errors a user gets."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from visionfit.errors import DataError
from visionfit.usercsv import read_user_csv, sniff_delimiter

ROWS = [("a.png", "cat"), ("b.png", "dög")]


def _write(path, text: str, encoding: str = "utf-8", bom: bytes = b"") -> str:
    path.write_bytes(bom + text.encode(encoding))
    return str(path)


def _csv(sep: str = ",") -> str:
    return "\n".join([f"image{sep}label"] + [f"{i}{sep}{lab}" for i, lab in ROWS]) + "\n"


def _assert_rows(table) -> None:
    assert table.df.columns.tolist() == ["image", "label"]
    assert list(map(tuple, table.df.values)) == ROWS


def test_plain_utf8(tmp_path):
    table = read_user_csv(_write(tmp_path / "t.csv", _csv()), required=["image", "label"])
    _assert_rows(table)
    assert (table.encoding, table.delimiter, table.notes) == ("utf-8", ",", [])


def test_utf8_with_excel_bom(tmp_path):
    table = read_user_csv(_write(tmp_path / "t.csv", _csv(), bom=b"\xef\xbb\xbf"))
    _assert_rows(table)  # the first column is "image", not "\ufeffimage"
    assert table.encoding == "utf-8-sig"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(tmp_path, encoding):
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    table = read_user_csv(_write(tmp_path / "t.csv", _csv("\t"), encoding, bom))
    _assert_rows(table)
    assert table.delimiter == "\t"


def test_latin1_falls_back_and_says_so(tmp_path):
    table = read_user_csv(_write(tmp_path / "t.csv", _csv(";"), "latin-1"))
    _assert_rows(table)
    assert table.delimiter == ";"
    assert len(table.notes) == 1 and "not UTF-8" in table.notes[0]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_sniffed(tmp_path, sep):
    _assert_rows(read_user_csv(_write(tmp_path / "t.csv", _csv(sep))))


def test_sniff_ignores_quoted_delimiters_and_single_columns():
    assert sniff_delimiter('"a,b";c\n1;2\n') == ";"
    assert sniff_delimiter("image\nx.png\n") == ","
    assert sniff_delimiter("\r\nimage|label\n") == "|"


def test_header_spaces_stripped(tmp_path):
    table = read_user_csv(_write(tmp_path / "t.csv", " image , label\na.png,cat\n"))
    assert table.df.columns.tolist() == ["image", "label"]


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"t.csv is empty"):
        read_user_csv(_write(tmp_path / "t.csv", "\n  \n"))


def test_header_only(tmp_path):
    path = _write(tmp_path / "t.csv", "image,label\n")
    with pytest.raises(DataError, match=r"has no rows \(only the header image, label\)"):
        read_user_csv(path)
    assert read_user_csv(path, allow_empty=True).df.empty


def test_missing_column_lists_columns_and_option(tmp_path):
    path = _write(tmp_path / "t.csv", "file;target\na.png;cat\n")
    with pytest.raises(DataError) as info:
        read_user_csv(path, required=[("image", "--image-col"), ("label", "--label-col")])
    msg = str(info.value)
    assert "column 'image' not in t.csv; columns are: file, target" in msg
    assert "semicolon-separated" in msg and "choose one with --image-col" in msg
    with pytest.raises(DataError, match=r"not in folds file t.csv; .*\(make new folds\)"):
        read_user_csv(path, required=["fold"], what="folds file", hint="make new folds")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="CSV file not found: .*nope.csv"):
        read_user_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_user_csv(tmp_path)


def test_excel_workbook_and_binary_refused(tmp_path):
    with pytest.raises(DataError, match="Excel workbook"):
        read_user_csv(_write(tmp_path / "t.csv", "PK\x03\x04rest"))
    with pytest.raises(DataError, match="NUL bytes"):
        read_user_csv(_write(tmp_path / "t.csv", "image\x00label\n"))


def test_ragged_rows_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="cannot read CSV file .*comma-separated"):
        read_user_csv(_write(tmp_path / "t.csv", "image,label\na,b,c,d\n"))


def test_size_cap(tmp_path):
    with pytest.raises(DataError, match="over the"):
        read_user_csv(_write(tmp_path / "t.csv", _csv()), max_bytes=10)


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes are POSIX")
def test_fifo_refused_without_blocking(tmp_path):
    fifo = tmp_path / "t.csv"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_user_csv(fifo)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            outcome.append(e)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # it blocked on open(): unblock it by opening the writing end
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("read_user_csv blocked on a named pipe")
    assert isinstance(outcome[0], DataError)
    assert "not a regular file (a named pipe)" in str(outcome[0])


def test_row_longer_than_header_names_its_line(tmp_path):
    # pandas alone would make "a.png" an index and shift "cat" into the image column
    with pytest.raises(DataError, match="line 3 has 3 fields, the header has 2"):
        read_user_csv(_write(tmp_path / "t.csv", "image,label\nb.png,dog\na.png,cat,\n"))


# -- the readers that go through it ----------------------------------------------------------------


def test_predict_input_list_semicolon_with_bom(tmp_path):
    from visionfit.inference.predict import expand_inputs

    path = _write(tmp_path / "list.csv", " file ;x\n a.png ;1\n;2\n", bom=b"\xef\xbb\xbf")
    assert expand_inputs([path], image_col="file") == [tmp_path / "a.png"]
    with pytest.raises(DataError, match="column 'image' not in list.csv.*--image-col"):
        expand_inputs([path])


def test_train_csv_from_excel_semicolon_latin1(tmp_path):
    from visionfit.config import DataConfig
    from visionfit.data.sources import load_samples

    for name in ("a.png", "b.png", "c.png", "d.png"):
        (tmp_path / name).write_bytes(b"")  # load_samples checks existence only
    text = "image ; label\na.png;chat\nb.png;chien\nc.png;chat\nd.png;chène\n"
    samples = load_samples(DataConfig(csv=_write(tmp_path / "t.csv", text, "latin-1")))
    assert samples.classes == ["chat", "chien", "chène"]
    assert any("not UTF-8" in n for n in samples.notes)


def test_folds_file_header_only(tmp_path):
    import pandas as pd

    from visionfit.data.folds import read_folds_file

    path = _write(tmp_path / "folds.csv", "image,label,fold\n")
    with pytest.raises(DataError, match="folds file .*folds.csv has no rows"):
        read_folds_file(path, pd.DataFrame({"image": ["a.png"], "label": ["x"]}))
