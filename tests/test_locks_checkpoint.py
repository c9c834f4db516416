import json
import os
import subprocess
import sys
import time

from bench.core.checkpoint import ExampleCheckpoint
from bench.core.locks import Claim, is_stale


def test_claim_is_exclusive_and_released(tmp_path):
    path = tmp_path / "c.lock"
    a, b = Claim(path), Claim(path)
    assert a.try_acquire()
    assert not b.try_acquire()
    a.release()
    assert not path.exists()
    assert b.try_acquire()
    b.release()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    path = tmp_path / "c.lock"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(proc.stdout)
    import socket

    path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid, "token": "x"}))
    assert is_stale(path)
    claim = Claim(path)
    assert claim.try_acquire()
    assert json.loads(path.read_text())["pid"] == os.getpid()
    claim.release()


def test_lock_without_heartbeat_from_another_host_goes_stale(tmp_path):
    path = tmp_path / "c.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "x"}))
    assert not is_stale(path, stale_after=60)
    old = time.time() - 120
    os.utime(path, (old, old))
    assert is_stale(path, stale_after=60)
    assert not Claim(path, stale_after=600).try_acquire()
    assert Claim(path, stale_after=60).try_acquire()


def test_heartbeat_keeps_a_live_lock_fresh(tmp_path):
    path = tmp_path / "c.lock"
    claim = Claim(path, heartbeat=0.05)
    assert claim.try_acquire()
    old = time.time() - 1000
    os.utime(path, (old, old))
    time.sleep(0.3)
    assert time.time() - path.stat().st_mtime < 5
    claim.release()


def _rows(uids):
    """Rows with every field an attacked example's row has (``AttackResult.to_json``)."""
    return [{"uid": u, "label": 1, "status": "failed", "original": "a fine film", "adversarial": "a good film",
             "original_pred": 1, "original_probs": [0.2, 0.8], "final_pred": 1, "final_probs": [0.4, 0.6],
             "n_words": 3, "words_changed": 1, "changes": [], "queries": 5, "forwards": 5, "seconds": 0.1,
             "reason": "", "perturbed_fraction": 1 / 3} for u in uids]


def test_checkpoint_roundtrip_and_torn_tail(tmp_path):
    path = tmp_path / "x.partial.jsonl"
    cp = ExampleCheckpoint(path, "cell1", ["a", "b", "c"])
    for row in _rows(["a", "b"]):
        cp.append(row)
    cp.close()
    with open(path, "a") as handle:
        handle.write('{"uid": "c", "sta')  # a crash in the middle of a line
    rows, note = ExampleCheckpoint(path, "cell1", ["a", "b", "c"]).load()
    assert [r["uid"] for r in rows] == ["a", "b"] and "partly written" in note
    assert path.read_text().count("\n") == 3 and path.read_text().endswith("\n")  # the torn tail is cut off
    cp = ExampleCheckpoint(path, "cell1", ["a", "b", "c"])
    cp.append(_rows(["c"])[0])
    cp.close()
    assert [r["uid"] for r in ExampleCheckpoint(path, "cell1", ["a", "b", "c"]).load()[0]] == ["a", "b", "c"]


def test_checkpoint_of_another_cell_or_sample_is_discarded(tmp_path):
    path = tmp_path / "x.partial.jsonl"
    cp = ExampleCheckpoint(path, "cell1", ["a", "b"])
    cp.append(_rows(["a"])[0])
    cp.close()
    rows, note = ExampleCheckpoint(path, "cell2", ["a", "b"]).load()
    assert rows == [] and "belongs to cell 'cell1'" in note and not path.exists()
    cp = ExampleCheckpoint(path, "cell1", ["a", "b"])
    cp.append(_rows(["a"])[0])
    cp.close()
    rows, note = ExampleCheckpoint(path, "cell1", ["z", "y"]).load()
    assert rows == [] and "do not match" in note
    cp = ExampleCheckpoint(path, "cell1", ["a", "b"])
    for row in _rows(["a", "a"]):  # the same example twice: not this runner's checkpoint
        cp.append(row)
    cp.close()
    rows, note = ExampleCheckpoint(path, "cell1", ["a", "b"]).load()
    assert rows == [] and "do not match" in note


def test_checkpoint_keeps_examples_finished_out_of_order(tmp_path):
    path = tmp_path / "x.partial.jsonl"
    cp = ExampleCheckpoint(path, "cell1", ["a", "b", "c"])
    for row in _rows(["c", "a"]):  # a batched attack finished c first
        cp.append(row)
    cp.close()
    rows, note = ExampleCheckpoint(path, "cell1", ["a", "b", "c"]).load()
    assert [r["uid"] for r in rows] == ["c", "a"] and note is None
