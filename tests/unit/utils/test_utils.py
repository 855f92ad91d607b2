"""Unit tests of fastparl.utils (logger, TrainLogger, plot, seeding, schedulers) and the CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from fastparl import cli
from fastparl.utils import CSVLogger, LinearDecayScheduler, PiecewiseScheduler, TrainLogger, logger, set_seed
from fastparl.utils.plot import load_curve, plot_curves, seed_statistics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_logger_set_dir_writes_file(tmp_path, capsys):
    d = str(tmp_path / "log")
    logger.set_dir(d)
    logger.info("info line")
    logger.warning("warn line")
    assert logger.get_dir() == d
    with open(os.path.join(d, "log.log")) as f:
        text = f.read()
    assert "info line" in text and "WRN warn line" in text
    assert "info line" in capsys.readouterr().out


def test_train_logger_csv_with_changing_keys(tmp_path):
    tl = TrainLogger(str(tmp_path / "run"), tensorboard=False)
    tl.log(10, episode_return=1.0, loss=0.5)
    tl.log(20, episode_return=2.0, loss=None)
    tl.log(25, eval_return=7.0)
    tl.close()
    rows = _read(str(tmp_path / "run" / "progress.csv"))
    assert [r["env_steps"] for r in rows] == ["10", "20", "25"]
    assert rows[0]["episode_return"] == "1.0" and rows[1]["loss"] == "" and rows[2]["eval_return"] == "7.0"
    assert "time_elapsed" in rows[0]


def test_train_logger_tensorboard(tmp_path):
    pytest.importorskip("tensorboardX")
    with TrainLogger(str(tmp_path / "tb")) as tl:
        tl.log(1, episode_return=3.0)
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))


def test_csv_logger_parl_api(tmp_path):
    c = CSVLogger(str(tmp_path / "r.csv"))
    c.log_dict({"loss": 1, "reward": 2})
    c.log_dict({"loss": 3, "reward": 4})
    with pytest.raises(ValueError):
        c.log_dict({"loss": 1})
    c.close()
    with open(tmp_path / "r.csv") as f:
        assert f.read().split() == ["loss,reward", "1,2", "3,4"]


def test_schedulers():
    s = PiecewiseScheduler([(0, 1.0), (2, 0.5), (4, 0.1)])
    assert [s.step() for _ in range(5)] == [1.0, 0.5, 0.5, 0.1, 0.1]
    lin = LinearDecayScheduler(1.0, 4)
    assert [lin.step() for _ in range(5)] == [0.75, 0.5, 0.25, 0.0, 0.0]
    with pytest.raises(ValueError):
        PiecewiseScheduler([(2, 1.0), (1, 0.5)])


def test_set_seed_is_deterministic():
    gym = pytest.importorskip("gymnasium")
    env = gym.make("CartPole-v1")
    set_seed(3, env=env)
    a = (np.random.rand(), env.reset()[0], env.action_space.sample())
    set_seed(3, env=env)
    b = (np.random.rand(), env.reset()[0], env.action_space.sample())
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2]
    with pytest.raises(TypeError):
        set_seed(1.5)


def _fake_runs(root, name, offsets):
    for seed, off in enumerate(offsets):
        tl = TrainLogger(str(root / name / f"seed{seed}"), tensorboard=False)
        for step in range(0, 1000, 50):
            tl.log(step + seed, episode_return=step / 10 + off)
            if step % 200 == 0:
                tl.log(step + seed, eval_return=1.0)
        tl.close()
    return str(root / name)


def test_seed_statistics_mean_std():
    xs = np.array([0.0, 10.0])
    grid, mean, std = seed_statistics([(xs, np.array([0.0, 10.0])), (xs, np.array([2.0, 12.0]))], points=3)
    np.testing.assert_allclose(grid, [0, 5, 10])
    np.testing.assert_allclose(mean, [1, 6, 11])
    np.testing.assert_allclose(std, [1, 1, 1])


def test_plot_two_seeds_png(tmp_path):
    logdir = _fake_runs(tmp_path, "dqn", [0.0, 5.0])
    xs, ys = load_curve(os.path.join(logdir, "seed0", "progress.csv"))
    assert len(xs) == 20 and ys[-1] == 95.0  # eval-only rows are skipped
    out = plot_curves([logdir], out=str(tmp_path / "out" / "c.png"), smooth=3)
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="available"):
        plot_curves([logdir], out=str(tmp_path / "x.png"), y="nope")
    with pytest.raises(FileNotFoundError):
        plot_curves([str(tmp_path / "missing")], out=str(tmp_path / "x.png"))


def test_cli_plot(tmp_path, capsys):
    a = _fake_runs(tmp_path, "a", [0.0, 1.0])
    b = _fake_runs(tmp_path, "b", [3.0])
    out = str(tmp_path / "cmp.png")
    assert cli.main(["plot", a, b, "--y", "episode_return", "-o", out]) == 0
    assert os.path.getsize(out) > 1000 and out in capsys.readouterr().out
    assert cli.main(["plot", str(tmp_path / "missing"), "-o", out]) == 2
    assert cli.main([]) == 1


def test_python_dash_m_fastparl(tmp_path):
    a = _fake_runs(tmp_path, "a", [0.0])
    out = str(tmp_path / "m.png")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    r = subprocess.run(
        [sys.executable, "-m", "fastparl", "plot", a, "-o", out, "--x", "env_steps"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert os.path.exists(out)


def test_summary_add_scalar_writes_events(tmp_path):
    pytest.importorskip("tensorboardX")
    from fastparl.utils import summary

    d = str(tmp_path / "sum")
    logger.set_dir(d)
    try:
        summary.add_scalar("train/return", 1.0, 1)
        summary.add_scalar("train/return", 2.0, 2)
    finally:
        summary.close()
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(d))


def test_dataclass_args_flags_and_help(capsys):
    from dataclasses import dataclass

    from fastparl.utils.arguments import field_docs, parse_args

    @dataclass
    class Args:
        total_steps: int = 10
        """environment steps"""
        lr: float = 0.1
        logdir: str | None = None
        dueling: bool = False
        """use a dueling head"""

    assert field_docs(Args) == {"total_steps": "environment steps", "dueling": "use a dueling head"}
    a = parse_args(Args, ["--total-steps", "5", "--lr", "0.5", "--dueling", "--logdir", "x"])
    assert a == Args(total_steps=5, lr=0.5, logdir="x", dueling=True)
    assert parse_args(Args, []) == Args()
    with pytest.raises(SystemExit):
        parse_args(Args, ["--help"])
    assert "environment steps" in capsys.readouterr().out
    with pytest.raises(TypeError):
        parse_args(dict, [])


def test_field_docs_include_inherited_fields():
    from dataclasses import dataclass

    from fastparl.utils.arguments import field_docs

    @dataclass
    class Base:
        seed: int = 0
        """seed of everything"""
        lr: float = 1e-3
        """base learning rate"""

    @dataclass
    class Child(Base):
        lr: float = 3e-4
        """the child's learning rate"""

    assert field_docs(Child) == {"seed": "seed of everything", "lr": "the child's learning rate"}


# ---------------------------------------------------------------- PARL's parl.utils names and module paths

def test_machine_info_reads_cuda_visible_devices(monkeypatch):
    import socket

    from fastparl.utils import machine_info

    for value, count in [("0,1", 2), ("", 0), ("3", 1), ("0,-1,2", 1), ("GPU-8a1b,GPU-77c2", 2)]:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
        assert machine_info.get_gpu_count() == count, value
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert machine_info.is_gpu_available() is False
    port = machine_info.get_free_tcp_port()
    assert isinstance(port, str) and machine_info.is_port_available(port)
    with socket.socket() as srv:
        srv.bind(("localhost", int(port)))
        srv.listen(1)
        assert not machine_info.is_port_available(port)
    ip = machine_info.get_ip_address()
    assert ip is None or (ip.count(".") == 3 and not ip.startswith("127."))


def test_is_gpu_available_asks_paddle(monkeypatch):
    """A GPU listed in CUDA_VISIBLE_DEVICES is not usable by a paddle built without CUDA (this CPU build)."""
    paddle = pytest.importorskip("paddle")
    from fastparl.utils import is_gpu_available

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    usable = paddle.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    assert is_gpu_available() is usable


def test_rl_utils_match_parls_scipy_formulas():
    signal = pytest.importorskip("scipy.signal")
    from fastparl.utils.rl_utils import calc_discount_sum_rewards, calc_gae

    def lfilter_sum(x, g):  # PARL's implementation
        return signal.lfilter([1.0], [1.0, -g], np.asarray(x, dtype=np.float64)[::-1])[::-1]

    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=40), rng.normal(size=40)
    np.testing.assert_allclose(calc_discount_sum_rewards(list(rewards), 0.9), lfilter_sum(rewards, 0.9), rtol=1e-12)
    tds = rewards + 0.99 * np.append(values[1:], 0.7) - values
    adv = calc_gae(rewards, values, 0.7, 0.99, 0.95)
    assert adv.dtype == np.float64
    np.testing.assert_allclose(adv, lfilter_sum(tds, 0.99 * 0.95), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="one value per step"):
        calc_gae(rewards, values[:-1], 0.0, 0.99, 0.95)


def test_np_utils_window_and_time_stats():
    from fastparl.utils import np_cross_entropy, np_softmax
    from fastparl.utils.time_stat import TimeStat
    from fastparl.utils.window_stat import WindowStat

    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 0.0]])
    p = np_softmax(logits)
    np.testing.assert_allclose(p[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(p[1], [0.5, 0.5, 0.0], atol=1e-12)  # no overflow
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    sparse = np_cross_entropy(probs, np.array([[1], [0]]))
    np.testing.assert_allclose(sparse, -np.log([[0.8], [0.6]]))
    np.testing.assert_allclose(np_cross_entropy(probs, np.array([[0.0, 1.0], [1.0, 0.0]])), sparse)
    w = WindowStat(3)
    assert w.mean is None
    for x in [1, 2, 3, 10]:
        w.add(x)
    assert (w.mean, w.min, w.max) == (5.0, 2, 10)  # 1 fell out of the window
    t = TimeStat(5)
    for _ in range(2):
        with t:
            sum(range(20000))
    assert 0 < t.min <= t.mean <= t.max < 1


def test_small_parl_helpers(tmp_path, capsys, monkeypatch):
    import argparse

    from fastparl.utils import _HAS_PADDLE, format_uniform_path, global_config, has_func, logger, summary, tensorboard

    assert format_uniform_path("a//b/c\\d") == os.sep.join("abcd")
    assert has_func(logger, "info") and not has_func(logger, "nope")
    global_config.batch_size = 3
    global_config.load_argument(argparse.Namespace(batch_size=5, lr=0.1))
    assert (global_config.batch_size, global_config.lr) == (5, 0.1)
    with pytest.raises(TypeError, match="Namespace"):
        global_config.load_argument({"lr": 1})
    logger.info_once("only once %d", 1)
    logger.info_once("only once %d", 1)
    assert capsys.readouterr().out.count("only once 1") == 1
    assert tensorboard.add_scalar is summary.add_scalar
    logger.set_dir(str(tmp_path / "tb"))
    assert summary.logdir == tensorboard.logdir == str(tmp_path / "tb")
    import importlib.util

    assert _HAS_PADDLE == (importlib.util.find_spec("paddle") is not None)


def test_kill_process_kills_matching_command_lines():
    from fastparl.utils import kill_process

    token = f"fastparl-kill-test-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", token])
    try:
        kill_process(token)
        assert proc.wait(timeout=10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_parl_error_names_and_light_import():
    from fastparl import errors
    from fastparl.remote import exceptions
    from fastparl.utils.utils import check_model_method

    assert exceptions.RemoteError is errors.RemoteError and exceptions.RemoteSerializeError is errors.SerializationError
    with pytest.raises(AssertionError, match="forward"):  # PARL raises AssertionError; ours is also one
        check_model_method(object(), "forward", "DQN")
    code = "import sys, fastparl.utils; print([m for m in ('paddle', 'numba', 'tensorboardX') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_atomic_folder_swaps_in_the_new_contents_and_keeps_the_old_ones_when_writing_fails(tmp_path):
    from fastparl.utils import atomic_folder

    folder = str(tmp_path / "ckpt")
    for version in ("1", "2"):
        with atomic_folder(folder) as tmp:
            assert not os.path.exists(os.path.join(tmp, "v"))  # a fresh folder each time
            with open(os.path.join(tmp, "v"), "w") as f:
                f.write(version)
        assert open(os.path.join(folder, "v")).read() == version
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_folder(folder) as tmp:
            with open(os.path.join(tmp, "v"), "w") as f:
                f.write("3")
            raise RuntimeError("killed while writing")
    assert open(os.path.join(folder, "v")).read() == "2"  # the last whole checkpoint
    assert sorted(os.listdir(tmp_path)) == ["ckpt", "ckpt.tmp"]  # the half-written one, cleared by the next call
    with atomic_folder(folder) as tmp:
        pass
    assert sorted(os.listdir(tmp_path)) == ["ckpt"] and os.listdir(folder) == []
