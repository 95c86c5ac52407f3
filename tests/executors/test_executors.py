"""The shared executors: results and per-task callbacks, tasks from a user's script that the
workers cannot import by name, one cached object per worker process."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid

import pytest

from springboard.executors import LocalExecutor, ship_by_value, worker_cached

SCRIPT = '''
class Square:
    def __call__(self, x):
        return x * x
'''


def load_script(tmp_path):
    """A module loaded from a file path, as `--job path.py:Class` loads a user's class: its name
    is importable nowhere else."""
    name = f"user_script_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_script_classes_run_in_pool_workers_with_a_callback_per_result(tmp_path, start_method):
    module = load_script(tmp_path)
    ship_by_value(module.Square)
    seen = []
    results = LocalExecutor(2, start_method=start_method).map(
        module.Square(), list(range(6)), on_result=lambda i, task, result: seen.append((i, task, result)))
    assert results == [0, 1, 4, 9, 16, 25]
    assert sorted(seen) == [(i, i, i * i) for i in range(6)]


def _pid_and_cached(_task):
    return os.getpid(), id(worker_cached("thing", object))


def test_one_cached_object_per_worker_process():
    out = LocalExecutor(2).map(_pid_and_cached, list(range(8)))
    by_pid = {}
    for pid, obj in out:
        by_pid.setdefault(pid, set()).add(obj)
    assert all(len(objs) == 1 for objs in by_pid.values())
    assert os.getpid() not in by_pid  # the work ran in the pool


def test_an_error_in_a_task_is_raised():
    with pytest.raises(ZeroDivisionError):
        LocalExecutor(2).map(lambda x: 1 // x, [1, 0, 2])
