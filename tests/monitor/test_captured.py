from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from scones.errors import MonitorError
from scones.monitor.captured import ReadReport, hour_of, iter_records, parse_record
from scones.storage import Store
from tests.helpers import png_bytes
from tests.monitor.support import T0, record, write_capture


def _records(count: int, step: timedelta = timedelta(minutes=7)) -> list[dict[str, object]]:
    return [record(png_bytes(), [0.97, 0.03], T0 + i * step, inference_id=f"id-{i}") for i in range(count)]


def test_own_format_round_trips_exactly() -> None:
    line = json.dumps(record(png_bytes(), [0.97, 0.03], T0, inference_id="abc"))
    parsed = parse_record(line.encode())
    assert parsed.input == png_bytes()
    assert parsed.output == (0.97, 0.03)
    assert parsed.inference_id == "abc" and parsed.event_id
    assert parsed.time == T0.timestamp()
    assert parsed.input_content_type == "image/png"


def test_sagemaker_record_without_inference_id_and_with_extra_fields() -> None:
    body = record(png_bytes(), [0.2, 0.8], T0)
    body["someFutureField"] = {"x": 1}
    body["captureData"]["endpointInput"]["extra"] = "ignored"  # type: ignore[index]
    parsed = parse_record(json.dumps(body))
    assert parsed.inference_id is None and parsed.key == parsed.event_id
    assert parsed.output == (0.2, 0.8)


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ('{"prediction": [0.1, 0.9]}', "JSON", (0.1, 0.9)),
        ("0.4,0.6", "CSV", (0.4, 0.6)),
        ('{"ErrorCode": "ModelError"}', "JSON", None),
        ("[0.5, 0.9]", "JSON", None),  # not a distribution
    ],
)
def test_output_shapes(data: str, encoding: str, expected: tuple[float, ...] | None) -> None:
    body = record(png_bytes(), [0.5, 0.5], T0)
    body["captureData"]["endpointOutput"].update(data=data, encoding=encoding)  # type: ignore[index]
    parsed = parse_record(json.dumps(body))
    assert parsed.output == expected
    assert (parsed.output_problem is None) == (expected is not None)


def test_hourly_layout_and_window(tmp_path: Path, store: Store) -> None:
    files = write_capture(tmp_path, _records(40), endpoint="ep")  # 40 x 7 min = 4h40m over 5 hours
    assert all("/ep/AllTraffic/2026/03/12/" in f.as_posix() for f in files)
    assert hour_of(files[0].relative_to(tmp_path).as_posix()) == T0.timestamp()
    everything = list(iter_records(store, str(tmp_path)))
    assert len(everything) == 40
    report = ReadReport()
    window = list(iter_records(store, str(tmp_path), T0 + timedelta(hours=1), T0 + timedelta(hours=2), report))
    assert [r.time for r in window] == [
        t for t in (r.time for r in everything) if T0.timestamp() + 3600 <= t < T0.timestamp() + 7200
    ]
    assert report.skipped_files >= 3  # hour folders outside the window are never opened


def test_flat_folder(tmp_path: Path, store: Store) -> None:
    write_capture(tmp_path, _records(30, timedelta(seconds=30)), layout="flat", per_file=7)  # within one hour
    assert len(list(tmp_path.iterdir())) == 5
    assert len(list(iter_records(store, str(tmp_path)))) == 30


def test_corrupt_lines_and_files_are_counted_not_fatal(tmp_path: Path, store: Store) -> None:
    write_capture(tmp_path, _records(10), layout="flat", per_file=10)
    good = next(tmp_path.iterdir())
    good.write_text(good.read_text() + "{not json\n" + json.dumps({"no": "capture"}) + "\n\n")
    (tmp_path / "garbage.jsonl").write_bytes(b"\x00\xff\xfe garbage\n" * 3)
    (tmp_path / "notes.txt").write_text("not captured data")
    report = ReadReport()
    records = list(iter_records(store, str(tmp_path), report=report))
    assert len(records) == 10
    assert report.corrupt_lines == 5 and report.corrupt_files == 1 and report.skipped_files == 1
    assert report.records == 10 and report.problems


def test_missing_location_is_a_clear_error(tmp_path: Path, store: Store) -> None:
    with pytest.raises(MonitorError, match="No captured data"):
        list(iter_records(store, str(tmp_path / "absent")))


def test_s3_prefix_on_moto(tmp_path: Path, s3_store: Store) -> None:
    files = write_capture(tmp_path, _records(12), endpoint="ep")
    bucket = s3_store.settings.bucket
    for path in files:
        s3_store.put(bucket, "data_capture/" + path.relative_to(tmp_path).as_posix(), path.read_bytes())
    s3_store.put(bucket, "data_capture/ep/AllTraffic/2026/03/12/14/broken.jsonl", b"{oops\n")
    report = ReadReport()
    records = list(iter_records(s3_store, f"s3://{bucket}/data_capture/ep/AllTraffic", report=report))
    assert len(records) == 12 and report.corrupt_lines == 1 and report.corrupt_files == 1
    assert records[0].input == png_bytes()


def test_a_single_file_local_or_s3(tmp_path: Path, store: Store, s3_store: Store) -> None:
    (path,) = write_capture(tmp_path, _records(5, timedelta(seconds=10)), layout="flat", per_file=10)
    assert len(list(iter_records(store, str(path)))) == 5
    bucket = s3_store.settings.bucket
    s3_store.put(bucket, "one/file.jsonl", path.read_bytes())
    assert len(list(iter_records(s3_store, f"s3://{bucket}/one/file.jsonl"))) == 5
