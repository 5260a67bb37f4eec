"""``--threads N`` and :func:`nnbackend.threads.limit_threads`.

The limits are process-wide, so the in-process tests use ``threads_limited`` (which puts
everything back) or replace the commands' ``limit_threads`` with a recorder; the real
``limit_threads`` runs in subprocesses.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.errors import NNBackendError
from nnbackend.threads import THREAD_ENV_VARS, limit_threads, threads_limited

from .model_files import assert_one_line_error, build, invoke

HAS_THREADPOOLCTL = importlib.util.find_spec("threadpoolctl") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_threadpoolctl = pytest.mark.skipif(not HAS_THREADPOOLCTL,
                                         reason="threadpoolctl is not installed")
#: The commands that take the shared device options (train is wired separately).
DEVICE_COMMANDS = ("evaluate", "gradcheck", "plot", "predict", "train")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the thread variables; monkeypatch restores whatever they were afterwards."""
    for var in THREAD_ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_threadpoolctl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import threadpoolctl`` fail as if it were not installed."""
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)


def test_none_changes_nothing_and_needs_no_threadpoolctl(clean_env, no_threadpoolctl) -> None:
    limit_threads(None)
    with threads_limited(None):
        pass
    assert not any(var in os.environ for var in THREAD_ENV_VARS)


def test_missing_threadpoolctl_is_a_one_line_error_naming_the_install(
        clean_env, no_threadpoolctl) -> None:
    with pytest.raises(NNBackendError) as info:
        limit_threads(2)
    message = str(info.value)
    assert "\n" not in message
    assert "install it with pip install threadpoolctl, or" in message
    # It failed before changing anything.
    assert not any(var in os.environ for var in THREAD_ENV_VARS)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_rejects_what_is_not_a_positive_integer(bad) -> None:
    with pytest.raises(NNBackendError, match="positive integer"):
        limit_threads(bad)


@needs_threadpoolctl
def test_threads_limited_limits_every_pool_then_restores(clean_env) -> None:
    import threadpoolctl

    before = [info["num_threads"] for info in threadpoolctl.threadpool_info()]
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    with threads_limited(1):
        infos = threadpoolctl.threadpool_info()
        assert infos, "NumPy's BLAS at least is loaded"
        assert all(info["num_threads"] == 1 for info in infos), infos
        assert all(os.environ[var] == "1" for var in THREAD_ENV_VARS)
        if torch is not None:
            assert torch.get_num_threads() == 1
    assert [info["num_threads"] for info in threadpoolctl.threadpool_info()] == before
    assert not any(var in os.environ for var in THREAD_ENV_VARS)
    if torch is not None:
        assert torch.get_num_threads() == torch_before


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV_VARS}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


@needs_threadpoolctl
def test_limit_threads_limits_numpy_blas_in_a_fresh_process() -> None:
    done = _run_python("""
        import threadpoolctl
        from nnbackend.threads import limit_threads
        limit_threads(1)
        print(sorted({info["num_threads"] for info in threadpoolctl.threadpool_info()}))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1]"


@needs_threadpoolctl
@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("import_torch_first", [True, False], ids=["torch-loaded", "torch-later"])
def test_limit_threads_limits_torch_loaded_before_or_after(import_torch_first: bool) -> None:
    done = _run_python(f"""
        import sys
        if {import_torch_first}:
            import torch
        from nnbackend.threads import limit_threads
        limit_threads(1)
        assert ("torch" in sys.modules) == {import_torch_first}, "imported torch itself"
        import torch
        print(torch.get_num_threads())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


# ---- the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", DEVICE_COMMANDS)
def test_every_device_command_documents_threads(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--threads" in result.output
    assert "busy 2-core machine" in " ".join(result.output.split())


@pytest.mark.parametrize("command", DEVICE_COMMANDS)
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_threads_must_be_a_positive_integer(command: str, value: str) -> None:
    result = invoke(command, "--threads", value)
    assert result.exit_code == 2
    assert "--threads" in result.stderr


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """Replace each command's ``limit_threads`` with a recorder of its calls."""
    calls: list[tuple[str, int | None]] = []
    for name in ("evaluate", "gradcheck", "plot", "predict"):
        module = importlib.import_module(f"nnbackend.cli.{name}")
        monkeypatch.setattr(module, "limit_threads",
                            lambda n, name=name: calls.append((name, n)))
    return calls


@pytest.fixture(scope="module")
def flower_model(tmp_path_factory) -> str:
    from nnbackend.data.datasets import load_dataset

    path = tmp_path_factory.mktemp("threads") / "flower.npz"
    build(path, *load_dataset("flower"), (4,), iterations=50, lr=1.2)
    return str(path)


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_commands_pass_threads_to_limit_threads(recorded, flower_model, tmp_path,
                                                threads: int | None) -> None:
    flag = [] if threads is None else ["--threads", str(threads)]
    runs = {
        "gradcheck": ["gradcheck", "--examples", "5"],
        "predict": ["predict", "--model", flower_model, "--data", "flower"],
        "evaluate": ["evaluate", "--model", flower_model, "--data", "flower"],
        "plot": ["plot", "--model", flower_model, "--loss-curve",
                 "--output", str(tmp_path / "loss.png")],
    }
    if importlib.util.find_spec("matplotlib") is None:
        del runs["plot"]
    for name, args in runs.items():
        result = invoke(*args, "--device", "cpu", *flag)
        assert result.exit_code == 0, (name, result.output, result.exception)
        assert recorded[-1] == (name, threads), name


def test_a_command_reports_missing_threadpoolctl_in_one_line(flower_model, clean_env,
                                                             no_threadpoolctl) -> None:
    result = invoke("predict", "--model", flower_model, "--data", "flower", "--threads", "1")
    assert_one_line_error(result, "--threads", "pip install threadpoolctl")
