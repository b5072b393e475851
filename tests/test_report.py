"""gan.report's arithmetic and layout on hand-made job records."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from gan.report import GridError, better, build_report, main


def write_job(
    root: Path, num: int, overrides: list[str], status: str, choices=None, **metrics: float
) -> None:
    job = root / str(num)
    job.mkdir(parents=True)
    record = {"status": status, "overrides": overrides, "metrics": metrics}
    if choices is not None:  # records from before choices were written have none
        record["choices"] = choices
    if status == "failed":
        record["error"] = "FloatingPointError: loss_d is nan"
    (job / "job.json").write_text(json.dumps(record))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """2 configurations x 2 seeds, one failed job and one killed before it wrote job.json."""
    fids = {("bce", 1): 10.0, ("bce", 2): 14.0, ("hinge", 1): 20.0, ("hinge", 2): 26.0}
    for num, ((loss, seed), fid) in enumerate(fids.items()):
        overrides = [f"loss={loss}", f"seed={seed}", "trainer.max_epochs=1"]
        write_job(
            tmp_path, num, overrides, "completed", **{"val/fid_mnist": fid, "val/recall": fid / 100}
        )
    write_job(tmp_path, 4, ["loss=wgan", "seed=1", "trainer.max_epochs=1"], "failed")
    killed = tmp_path / "5" / ".hydra"
    killed.mkdir(parents=True)
    (killed / "overrides.yaml").write_text("- loss=lsgan\n- seed=1\n")
    return tmp_path


def test_rows_hold_mean_std_and_best_of_seeds(sweep):
    markdown, rows = build_report(sweep)
    bce, hinge = rows
    assert (bce["configuration"], bce["n_seeds"], bce["seeds"]) == ("loss=bce", 2, "1 2")
    assert bce["val/fid_mnist mean"] == 12.0
    assert bce["val/fid_mnist std"] == pytest.approx(statistics.stdev([10.0, 14.0]))
    assert bce["val/fid_mnist best"] == 10.0  # lower FID is better
    assert hinge["val/recall best"] == 0.26  # higher recall is better
    assert "| loss=bce | 2 | 12 ± 2.83 (best 10) | 0.12 ± 0.0283 (best 0.14) |" in markdown
    assert "Shared by all jobs: `trainer.max_epochs=1`" in markdown
    assert "4 completed jobs in 2 configurations, 2 failed." in markdown


def test_numbers_from_a_thousand_up_are_written_in_full(tmp_path):
    for seed, modes in ((1, 1000.0), (2, 998.0)):
        overrides = [f"seed={seed}"]
        write_job(tmp_path, seed, overrides, "completed", **{"val/modes_covered": modes})
    markdown, _ = build_report(tmp_path)
    assert "| (defaults) | 2 | 999 ± 1.41 (best 1000) |" in markdown  # not 1e+03


def test_a_resumed_job_joins_the_row_of_its_configuration(tmp_path):
    """`ckpt_path` says where a job resumed from: seed 2, resumed, is still `loss=hinge`."""
    write_job(tmp_path, 0, ["loss=hinge", "seed=1"], "completed", **{"val/kl": 0.5})
    resumed = ["loss=hinge", "seed=2", "ckpt_path=/runs/a/checkpoints/last.ckpt"]
    write_job(tmp_path, 1, resumed, "completed", **{"val/kl": 0.7})
    write_job(tmp_path, 2, ["loss=bce", "seed=1"], "completed", **{"val/kl": 0.9})
    markdown, rows = build_report(tmp_path)
    assert [(row["configuration"], row["seeds"]) for row in rows] == [
        ("loss=hinge", "1 2"),
        ("loss=bce", "1"),
    ]
    assert "ckpt_path" not in markdown


def test_a_group_option_typed_or_left_to_its_default_is_one_configuration(tmp_path):
    """Grouped by the options the config groups got: `remedy=none` typed on seed 2 and left to
    the default on seed 1 is one row, labelled by what both typed."""
    for num, (overrides, remedy, kl) in enumerate(
        (
            (["seed=1"], "none", 0.05),
            (["remedy=none", "seed=2"], "none", 0.06),
            (["remedy=pack2", "seed=1"], "pack2", 0.07),
        )
    ):
        choices = {"remedy": remedy, "augment": None}
        write_job(tmp_path, num, overrides, "completed", choices, **{"val/mode_kl": kl})
    markdown, rows = build_report(tmp_path)
    assert [(row["configuration"], row["seeds"]) for row in rows] == [
        ("(defaults)", "1 2"),
        ("remedy=pack2", "1"),
    ]
    assert "| (defaults) | 2 | 0.055 ± 0.00707 (best 0.05) |" in markdown


def test_failed_and_unfinished_jobs_are_listed(sweep):
    markdown, _ = build_report(sweep)
    failed = markdown.split("## Failed jobs")[1]
    assert "| 4 | loss=wgan seed=1 trainer.max_epochs=1 | failed | FloatingPointError" in failed
    assert "| 5 | loss=lsgan seed=1 | no job.json |" in failed


def test_a_stopped_job_that_was_resumed_is_listed_apart_with_the_job_that_resumed_it(
    tmp_path, monkeypatch
):
    """A run stopped twice and resumed each time (absolute, then relative `ckpt_path`) is not
    lost work; a stopped job nobody resumed is."""
    monkeypatch.chdir(tmp_path)
    write_job(tmp_path, 0, ["seed=1"], "interrupted")
    write_job(
        tmp_path, 1, ["seed=1", f"ckpt_path={tmp_path}/0/checkpoints/last.ckpt"], "interrupted"
    )
    write_job(
        tmp_path, 2, ["seed=1", "ckpt_path=1/checkpoints/last.ckpt"], "completed", **{"val/kl": 1.0}
    )
    write_job(tmp_path, 3, ["seed=2"], "interrupted")
    markdown, _ = build_report(tmp_path)
    assert "1 completed jobs in 1 configurations, 1 failed, 2 stopped and resumed" in markdown
    failed, resumed = markdown.split("## Failed jobs")[1].split("## Stopped and resumed")
    assert "| 3 | seed=2 | interrupted |" in failed and "| 0 |" not in failed
    assert "| 0 | interrupted | 1 |" in resumed and "| 1 | interrupted | 2 |" in resumed
    assert "| 3 |" not in resumed


def test_the_machines_the_completed_jobs_ran_on_are_named_with_their_counts(tmp_path):
    xeon = {"cpu": "Intel(R) Xeon(R) Processor", "cpu_threads": 1}  # an older record
    epyc = {"cpu": "AMD EPYC", "cpu_model": "family 25 model 17", "cpu_capability": "AVX512"}
    epyc_avx2 = epyc | {"cpu_model": "family 25 model 1", "cpu_capability": "AVX2"}
    machines = (
        xeon, xeon, {"cpu": "AMD EPYC", "cpu_threads": 2, "gpu": "NVIDIA H200"}, None,
        epyc | {"cpu_threads": 1}, epyc_avx2 | {"cpu_threads": 1},
    )  # fmt: skip
    for num, machine in enumerate(machines):
        write_job(tmp_path, num, [f"seed={num}"], "completed", **{"val/kl": 1.0})
        if machine:  # a record from before machines were named has none
            record = json.loads((tmp_path / str(num) / "job.json").read_text())
            (tmp_path / str(num) / "job.json").write_text(json.dumps(record | {"machine": machine}))
    markdown, _ = build_report(tmp_path)
    assert (
        "Ran on: Intel(R) Xeon(R) Processor, 1 thread (2 jobs), NVIDIA H200 (1 job), "
        "AMD EPYC (family 25 model 17, AVX512), 1 thread (1 job), "
        "AMD EPYC (family 25 model 1, AVX2), 1 thread (1 job)."
    ) in markdown


def test_cli_writes_markdown_and_csv(sweep, capsys):
    assert main([str(sweep), "--metrics", "val/fid_mnist"]) == 0
    with (sweep / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["configuration"] for row in rows] == ["loss=bce", "loss=hinge"]
    assert "val/recall mean" not in rows[0]
    assert (sweep / "report.md").read_text() in capsys.readouterr().out


def test_cli_refuses_a_directory_without_jobs(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(tmp_path)]) == 2
    assert "no jobs" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("metric", "direction"),
    [("val/fid_mnist", "min"), ("val/class_kl", "min"), ("val/is_mnist", "max"),
     ("val/classes_covered", "max"), ("val/precision", "max"), ("val/modes_covered", "max"),
     ("val/modes_captured", "max"), ("val/high_quality", "max"), ("val/mode_kl", "min"),
     ("epochs", None)],
)  # fmt: skip
def test_direction_of_each_metric(metric, direction):
    assert better(metric) == direction


def test_a_job_still_running_is_counted_and_listed_apart_not_as_failed(sweep):
    write_job(sweep, 6, ["loss=hinge", "seed=3", "trainer.max_epochs=1"], "running")
    markdown, rows = build_report(sweep)
    assert "4 completed jobs in 2 configurations, 2 failed, 1 running." in markdown
    failed, running = markdown.split("## Failed jobs")[1].split("## Running")
    assert "| 6 |" not in failed
    assert "| 6 | loss=hinge seed=3 trainer.max_epochs=1 |" in running
    assert "killed outright" in running
    assert [row["n_seeds"] for row in rows] == [2, 2]  # its metrics are not in the table


def test_an_unreadable_record_is_a_failed_job_not_a_crash(sweep):
    (sweep / "3" / "job.json").write_text('{"status": "comp')  # cut short
    markdown, rows = build_report(sweep)
    assert len(rows) == 2  # hinge keeps its other seed
    failed = markdown.split("## Failed jobs")[1]
    assert "| 3 |  | unreadable | job.json is not valid JSON" in failed


def test_with_no_completed_job_the_failed_list_alone_and_a_non_zero_exit(tmp_path, capsys):
    write_job(tmp_path, 0, ["loss=wgan", "seed=1"], "failed")
    write_job(tmp_path, 1, ["loss=wgan", "seed=2"], "failed")
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "| configuration |" not in out  # no empty table
    assert "0 completed jobs" in out and "## Failed jobs" in out


@pytest.mark.parametrize("record", ["[1, 2]", '"completed"', "3", "null"])
def test_a_record_that_is_json_but_not_an_object_is_a_failed_job(sweep, record):
    (sweep / "3" / "job.json").write_text(record)
    markdown, rows = build_report(sweep)
    assert len(rows) == 2
    assert "| 3 |  | unreadable | job.json holds a JSON " in markdown.split("## Failed jobs")[1]


def test_with_no_metric_logged_the_table_rows_have_as_many_cells_as_the_header(tmp_path):
    for seed in (1, 2):
        write_job(tmp_path, seed, [f"seed={seed}"], "completed")  # callbacks.metrics=null
    markdown, _ = build_report(tmp_path)
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert table[:3] == ["| configuration | seeds |", "|---|---|", "| (defaults) | 2 |"]


def size_by_remedy_sweep(root: Path) -> None:
    """3 sizes (two of them set by different keys, the third by neither) x 2 remedies, 2 seeds
    of one cell; each size with its own budget override, as a benchmark sets them."""
    fids = {
        ("data.limit_images=1000", "none"): [10.0, 12.0],
        ("data.limit_images=1000", "ada"): [15.0],
        ("data.limit_images=500", "none"): [11.0],
        ("data.fraction=0.1", "ada"): [16.0],
        (None, "none"): [9.0],
    }
    num = 0
    for (size, remedy), values in fids.items():
        for seed, fid in enumerate(values, start=1):
            budget = "trainer.max_epochs=30" if size is None or "fraction" in size else None
            overrides = [o for o in (size, budget, f"remedy={remedy}", f"seed={seed}") if o]
            choices = {"remedy": remedy, "augment": None}
            write_job(root, num, overrides, "completed", choices, **{"val/fid_fashion": fid})
            num += 1


def test_a_grid_lays_each_metric_out_rows_by_columns(tmp_path):
    size_by_remedy_sweep(tmp_path)
    markdown, rows = build_report(
        tmp_path, ["val/fid_fashion"], ["data.limit_images", "data.fraction"], ["remedy"]
    )
    grid_part, table_part = markdown.split("## Every configuration")
    assert "## val/fid_fashion: data.limit_images, data.fraction by remedy" in grid_part
    # Rows by the first key set, in numeric order (500 before 1000); none set, last.
    assert (
        "| data.limit_images, data.fraction | ada | none |\n"
        "|---|---|---|\n"
        "| data.limit_images=500 | – | 11 (1) |\n"
        "| data.limit_images=1000 | 15 (1) | 11 ± 1.41 (2) |\n"
        "| data.fraction=0.1 | 16 (1) | – |\n"
        "| (defaults) | – | 9 (1) |\n"
    ) in grid_part
    assert "| configuration | seeds | val/fid_fashion |" in table_part  # the full table stays
    places = {(row["grid row"], row["grid column"]): row["val/fid_fashion mean"] for row in rows}
    assert places[("data.limit_images=1000", "none")] == 11.0
    assert places[("(defaults)", "none")] == 9.0


def test_a_grid_refuses_two_configurations_in_one_cell(tmp_path, capsys):
    """`remedy` alone as the rows folds the sizes together: the report names the two
    configurations rather than average them."""
    size_by_remedy_sweep(tmp_path)
    with pytest.raises(GridError, match=r"holds two configurations.*add the key they differ in"):
        build_report(tmp_path, None, ["remedy"], ["data.fraction"])
    assert main([str(tmp_path), "--rows", "remedy", "--columns", "data.fraction"]) == 2
    error = capsys.readouterr().err
    assert "'data.limit_images=1000 remedy=none'" in error
    assert "'data.limit_images=500 remedy=none'" in error
    assert not (tmp_path / "report.md").exists()  # nothing half-written


def test_a_grid_refuses_a_key_no_job_sets_and_one_axis_alone(tmp_path, capsys):
    size_by_remedy_sweep(tmp_path)
    assert main([str(tmp_path), "--rows", "data.limits_images", "--columns", "remedy"]) == 2
    assert "no job sets 'data.limits_images'" in capsys.readouterr().err
    assert main([str(tmp_path), "--rows", "remedy"]) == 2
    assert "--rows and --columns go together" in capsys.readouterr().err
