"""The benchmarks' shared main (`bench_runtime.run_benchmark`): exit statuses and the report.

The scenarios here do not start `tidings dev` (the benchmarks themselves do, with `make bench*`);
what is under test is what every benchmark's `main` does around its scenario."""

from __future__ import annotations

from pathlib import Path

from tidings_local.bench_runtime import BenchError, Runtime, run_benchmark


async def _finished(runtime: Runtime) -> dict[str, object]:
    return {"port": runtime.port, "complete": True}


async def _incomplete(runtime: Runtime) -> dict[str, object]:
    return {"port": runtime.port, "complete": False}


async def _cannot_run(runtime: Runtime) -> dict[str, object]:
    raise BenchError("the runtime did not start")


async def _interrupted(runtime: Runtime) -> dict[str, object]:
    raise KeyboardInterrupt


def _report(result: dict[str, object]) -> str:
    return f"# report\nport {result['port']}\n"


def test_a_finished_run_writes_its_report_and_exits_0(tmp_path: Path, capsys) -> None:
    output = tmp_path / "docs" / "bench.md"
    status = run_benchmark(4567, _finished, _report, output, complete=lambda result: bool(result["complete"]))
    assert status == 0
    assert output.read_text() == "# report\nport 4567\n"
    assert "port 4567" in capsys.readouterr().out


def test_an_incomplete_run_still_writes_its_report_but_exits_1(tmp_path: Path) -> None:
    output = tmp_path / "bench.md"
    status = run_benchmark(4567, _incomplete, _report, output, complete=lambda result: bool(result["complete"]))
    assert status == 1
    assert output.exists()


def test_a_run_that_cannot_start_exits_2_with_the_reason_and_writes_nothing(tmp_path: Path, capsys) -> None:
    output = tmp_path / "bench.md"
    assert run_benchmark(None, _cannot_run, _report, output) == 2
    assert "error: the runtime did not start" in capsys.readouterr().err
    assert not output.exists()


def test_an_interrupted_run_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "bench.md"
    assert run_benchmark(None, _interrupted, _report, output) == 130
    assert not output.exists()
