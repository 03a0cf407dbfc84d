from pathlib import Path

from riftdrill.context import RunContext


def test_from_configuration_reads_run_dir_and_owner() -> None:
    ctx = RunContext.from_configuration({"run_dir": "/tmp/r1", "owner_pid": 42, "other": 1})
    assert ctx == RunContext(run_dir=Path("/tmp/r1"), owner_pid=42)


def test_from_configuration_accepts_var_strings() -> None:
    # `chaos run --var owner_pid=7` puts a string in the configuration
    ctx = RunContext.from_configuration({"run_dir": "/tmp/r1", "owner_pid": "7"})
    assert ctx is not None and ctx.owner_pid == 7


def test_from_configuration_none_without_run_dir() -> None:
    assert RunContext.from_configuration(None) is None
    assert RunContext.from_configuration({}) is None
    assert RunContext.from_configuration({"run_dir": "", "owner_pid": 3}) is None


def test_from_configuration_bad_owner_is_unowned() -> None:
    ctx = RunContext.from_configuration({"run_dir": "/tmp/r", "owner_pid": "x"})
    assert ctx is not None and ctx.owner_pid == 0


def test_to_vars_round_trips() -> None:
    ctx = RunContext(run_dir=Path("/tmp/run"), owner_pid=1234)
    assert ctx.to_vars() == {"run_dir": "/tmp/run", "owner_pid": "1234"}
    assert RunContext.from_configuration(ctx.to_vars()) == ctx
    assert ctx.var_args() == ["--var", "run_dir=/tmp/run", "--var", "owner_pid=1234"]


def test_clock_is_injectable_and_defaults_to_wall_clock() -> None:
    ctx = RunContext(run_dir=Path("/r"), owner_pid=1, clock_ns=lambda: 5)
    assert ctx.clock_ns() == 5
    assert RunContext(run_dir=Path("/r"), owner_pid=1).clock_ns() > 1_600_000_000 * 10**9


def test_no_module_carries_the_run_context_in_the_environment() -> None:
    """The run context is passed (configuration, arguments), never through os.environ."""
    src = Path(__file__).resolve().parents[2] / "src" / "riftdrill"
    found = [f"{p.relative_to(src)}: {name}" for p in src.rglob("*.py")
             for name in ("RIFTDRILL_RUN_DIR", "RIFTDRILL_DRILL_PID") if name in p.read_text()]
    assert found == []
