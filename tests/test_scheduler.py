"""The pool's plan: which cell a free worker takes next."""

from bench.run.scheduler import GroupScheduler


def drain(plan: GroupScheduler, order: list[int]) -> list[tuple[int, str]]:
    """Ask for cells in the given worker order until none is left; returns (worker, cell) pairs."""
    taken = []
    for worker in order:
        cell = plan.next_for(worker)
        if cell is not None:
            taken.append((worker, cell))
    return taken


def test_idle_workers_share_a_single_model_group():
    plan = GroupScheduler([["a1", "a2", "a3", "a4"]])
    assert drain(plan, [0, 1, 0, 1, 0, 1]) == [(0, "a1"), (1, "a2"), (0, "a3"), (1, "a4")]
    assert plan.next_for(0) is None and plan.pending() == []


def test_workers_start_different_groups_and_keep_their_model():
    plan = GroupScheduler([["a1", "a2", "a3"], ["b1", "b2"]])
    assert plan.next_for(0) == "a1"  # the largest group first
    assert plan.next_for(1) == "b1"  # nobody is on b yet: its model trains in parallel
    assert plan.next_for(1) == "b2"  # stays on the model it holds
    assert plan.next_for(0) == "a2"
    assert plan.next_for(1) == "a3"  # its group is done: joins the group left
    assert plan.next_for(0) is None and plan.next_for(1) is None


def test_a_new_group_goes_to_the_least_crowded_and_largest():
    plan = GroupScheduler([["a1", "a2"], ["b1", "b2", "b3"], ["c1"]])
    assert [plan.next_for(w) for w in (0, 1, 2)] == ["b1", "a1", "c1"]
    assert plan.next_for(2) == "b2"  # c is done; a and b each have one worker, b has more left
    assert plan.in_progress() == ["b1", "a1", "b2"]


def test_a_lost_worker_gives_back_its_cell_without_rerunning_it():
    plan = GroupScheduler([["a1", "a2", "a3"]])
    plan.next_for(0), plan.next_for(1)
    assert plan.lost(1) == "a2"
    assert plan.in_progress() == ["a1"] and plan.pending() == ["a3"]
    assert drain(plan, [1, 0, 1]) == [(1, "a3")]


def test_ray_parts_keep_every_worker_busy():
    from bench.run.executors import split_groups

    assert split_groups([["a1", "a2", "a3"], ["b1"]], 2) == [["a1", "a2", "a3"], ["b1"]]
    assert split_groups([["a1", "a2", "a3"]], 2) == [["a1", "a3"], ["a2"]]
    assert split_groups([["a1"], ["b1", "b2"]], 4) == [["a1"], ["b1"], ["b2"]]
    assert sorted(c for part in split_groups([list("abcdefg")], 3) for c in part) == list("abcdefg")
