"""The sync-dir protocol pieces: file format, atomic claims, leases, back-off."""
import math
import multiprocessing
import os
import time

import pytest
import torch

from nes.sync_dir import (Backoff, BadFile, ChangeWaiter, LeaseWatch, RunPaths, read_file, read_results, read_tasks,
                          release_claim, results_iteration, results_name, tensors_from_bytes, try_claim, write_file,
                          write_results, write_tasks)
from nes.tasks import FixedEnvResult, FixedEnvTask, MemberResult, MemberTask


def a_result(run_id="run", iteration=0, member=1) -> MemberResult:
    return MemberResult(run_id=run_id, iteration=iteration, member=member, score=0.1 + 0.2, score_orig=-math.inf,
                        test_return_orig=12.5, flipped=True, seconds=1.25, timed_out=False, failed=True,
                        real_env_steps=17, synthetic_steps=123)


@pytest.fixture
def paths(tmp_path):
    paths = RunPaths(tmp_path, "run")
    paths.make()
    return paths


def test_task_files_round_trip_psi_and_eps_exactly(paths):
    generator = torch.Generator().manual_seed(0)
    psi = torch.randn(1000, generator=generator)
    tasks = [MemberTask(run_id="run", iteration=3, member=m, seed=2**40 + m, psi=psi.clone(),
                        eps=torch.randn(1000, generator=generator) * 1e-7) for m in (2, 5)]
    write_tasks(paths, tasks, 12.5)
    back, budget = read_tasks(paths.tasks / "3", "run")
    assert budget == 12.5
    assert [(t.run_id, t.iteration, t.member, t.seed) for t in back] == [("run", 3, m, 2**40 + m) for m in (2, 5)]
    assert all(torch.equal(b.psi, psi) and torch.equal(b.eps, t.eps) for b, t in zip(back, tasks))


def fixed_env_result(member=1) -> FixedEnvResult:
    return FixedEnvResult(run_id="run", iteration=0, member=member, test_return=0.1 + 0.2, train_steps=600,
                          train_episodes=3, seconds=1.25, timed_out=False, failed=member == 4)


def test_fixed_env_task_files_round_trip_each_tasks_own_psi_exactly(paths):
    generator = torch.Generator().manual_seed(1)
    tasks = [FixedEnvTask(run_id="run", iteration=0, member=m, seed=2**40 + m,
                          psi=torch.randn(500, generator=generator)) for m in (0, 1, 2)]
    write_tasks(paths, tasks, math.inf)
    back, budget = read_tasks(paths.tasks / "0", "run")
    assert budget == math.inf and all(type(t) is FixedEnvTask for t in back)
    assert [(t.run_id, t.iteration, t.member, t.seed) for t in back] == [("run", 0, m, 2**40 + m) for m in (0, 1, 2)]
    assert all(torch.equal(b.psi, t.psi) for b, t in zip(back, tasks))


def test_a_psi_shared_by_many_tasks_is_stored_once(paths):
    psis = [torch.full((400,), float(k)) for k in range(2)]
    tasks = [FixedEnvTask(run_id="run", iteration=1, member=m, seed=m, psi=psis[m % 2].clone()) for m in range(6)]
    write_tasks(paths, tasks, 1.0)
    stored = tensors_from_bytes(read_file(paths.tasks / "1", "tasks", "run")[1])
    assert stored["psis"].shape == (2, 400) and stored["psi_index"] == [0, 1, 0, 1, 0, 1]
    back, _ = read_tasks(paths.tasks / "1", "run")
    assert all(torch.equal(b.psi, t.psi) for b, t in zip(back, tasks))


def test_real_env_tasks_carry_no_psi(paths):
    tasks = [FixedEnvTask(run_id="run", iteration=2, member=m, seed=m, psi=None) for m in (3, 4)]
    write_tasks(paths, tasks, 7.0)
    assert read_tasks(paths.tasks / "2", "run") == (tasks, 7.0)


def test_tasks_of_one_file_are_of_one_kind(paths):
    se, real = (FixedEnvTask(run_id="run", iteration=0, member=m, seed=m, psi=psi)
                for m, psi in ((0, torch.zeros(3)), (1, None)))
    member = MemberTask(run_id="run", iteration=0, member=2, seed=2, psi=torch.zeros(3), eps=torch.ones(3))
    for mixed in ([se, real], [se, member]):
        with pytest.raises(ValueError):
            write_tasks(paths, mixed, 1.0)


def test_fixed_env_results_round_trip_exactly_and_a_corrupted_file_is_detected(paths):
    write_results(paths, [fixed_env_result(1), fixed_env_result(4)], "w")
    path = paths.results / "0-1-w"
    results, _ = read_results(path, "run", 0)
    assert results == [fixed_env_result(1), fixed_env_result(4)]
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"train_steps": 600', b'"train_steps": 601', 1))
    with pytest.raises(BadFile, match="checksum mismatch"):
        read_results(path, "run", 0)


def test_a_corrupted_fixed_env_task_file_is_detected(paths):
    write_tasks(paths, [FixedEnvTask(run_id="run", iteration=0, member=0, seed=0, psi=torch.ones(50))], 1.0)
    path = paths.tasks / "0"
    data = path.read_bytes()
    path.write_bytes(data[:-40] + bytes([data[-40] ^ 1]) + data[-39:])
    with pytest.raises(BadFile, match="checksum mismatch"):
        read_tasks(path, "run")
    path.write_bytes(data[:-5])
    with pytest.raises(BadFile, match="truncated"):
        read_tasks(path, "run")


def test_results_files_round_trip_exactly(paths):
    write_results(paths, [a_result(member=1), a_result(member=4)], "w")
    results, written_at = read_results(paths.results / "0-1-w", "run", 0)
    assert results == [a_result(member=1), a_result(member=4)] and abs(written_at - time.time()) < 60


@pytest.mark.parametrize("damage, reason", [
    (lambda data: data[:-3], "truncated"),
    (lambda data: data[:20], "not a sync file"),
    (lambda data: data[:-2] + bytes([data[-2] ^ 1]) + data[-1:], "checksum mismatch"),
    (lambda data: b"", "not a sync file"),
])
def test_damaged_files_are_detected(paths, damage, reason):
    write_results(paths, [a_result()], "w")
    path = paths.results / "0-1-w"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(BadFile, match=reason):
        read_results(path, "run", 0)


@pytest.mark.parametrize("wanted, reason", [
    (("other-run", 0), "run_id is 'run', expected 'other-run'"),
    (("run", 1), "iteration is 0, expected 1"),
])
def test_foreign_files_are_detected(paths, wanted, reason):
    write_results(paths, [a_result()], "w")
    with pytest.raises(BadFile, match=reason):
        read_results(paths.results / "0-1-w", *wanted)


def test_a_header_edited_to_look_like_ours_fails_the_checksum(paths):
    write_results(paths, [a_result(run_id="theirs")], "w")
    path = paths.results / "0-1-w"
    path.write_bytes(path.read_bytes().replace(b'"run_id": "theirs"', b'"run_id": "run"', 1))
    with pytest.raises(BadFile, match="checksum mismatch"):
        read_file(path, "results", "run")


def test_results_names_carry_their_iteration():
    assert results_name(12, 3, "host-17-a4") == "12-3-host-17-a4"
    assert results_iteration("12-3-host-17-a4") == 12
    assert results_iteration("12-3") is None and results_iteration("notes.txt") is None


def _claim_all(directory, names, owner, barrier, queue):
    barrier.wait()
    won = []
    for name in names:
        fd = try_claim(directory / name, owner)
        if fd is not None:
            won.append(name)
            os.close(fd)
    queue.put((owner, won))


def test_two_racing_claimers_never_win_the_same_claim(tmp_path):
    names = [f"0-{m}" for m in range(300)]
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(2), context.Queue()
    claimers = [context.Process(target=_claim_all, args=(tmp_path, names, owner, barrier, queue))
                for owner in ("a", "b")]
    for claimer in claimers:
        claimer.start()
    won = dict(queue.get(timeout=60) for _ in claimers)
    for claimer in claimers:
        claimer.join(timeout=60)
    assert not set(won["a"]) & set(won["b"])
    assert sorted(won["a"] + won["b"]) == sorted(names)
    assert all(name in won[(tmp_path / name).read_text()] for name in names)


def test_a_claim_is_given_back_only_by_its_owner(tmp_path):
    claim = tmp_path / "0-0"
    first = try_claim(claim, "a")
    assert first is not None and try_claim(claim, "b") is None
    claim.unlink()                      # the master re-issued it ...
    second = try_claim(claim, "b")      # ... and worker b claimed it again
    release_claim(claim, first)         # a late release by a must not free b's claim
    assert claim.read_text() == "b"
    release_claim(claim, second)
    assert not claim.exists()


def test_a_lease_expires_without_heartbeat_and_lives_with_one(tmp_path):
    silent, beating = tmp_path / "0-0", tmp_path / "0-1"
    silent_fd, beating_fd = try_claim(silent, "a"), try_claim(beating, "b")
    watch = LeaseWatch(0.3)
    assert not watch.expired(silent) and not watch.expired(beating)
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        os.utime(beating_fd)
        time.sleep(0.05)
        assert not watch.expired(beating)
    assert watch.expired(silent)
    assert not watch.expired(tmp_path / "gone")
    os.close(silent_fd)
    os.close(beating_fd)


def test_backoff_doubles_from_5_ms_to_half_a_second():
    backoff = Backoff()
    delays = [backoff.next() for _ in range(10)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04] and max(delays) == 0.5 and delays[-1] == 0.5
    backoff.reset()
    assert backoff.next() == 0.005


def test_change_waiter_wakes_on_a_new_file_before_its_timeout(tmp_path):
    waiter = ChangeWaiter()
    if waiter.fd < 0:
        pytest.skip("no inotify here: the waiter falls back to sleeping its timeout")
    waiter.wait([tmp_path], 0)
    write_file(tmp_path / "x", "result", "run", 0, 0, b"")
    start = time.monotonic()
    waiter.wait([tmp_path], 5.0)
    waiter.close()
    assert time.monotonic() - start < 1.0
