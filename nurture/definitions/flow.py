"""How a lead moves through a campaign's steps: successors, reachability and loops."""

from __future__ import annotations

from nurture.definitions.campaign import Campaign
from nurture.definitions.steps import BranchStep, ExitStep, GotoStep, WaitStep


def successors(campaign: Campaign, index: int) -> list[int | None]:
    """Where a lead can go after step ``index``: step positions, None for "the campaign ends".

    Targets that do not exist are left out (the checks report them).
    """
    return _graph(campaign)[index]


def _graph(campaign: Campaign) -> list[list[int | None]]:
    positions: dict[str, int] = {}
    for i, step_id in enumerate(campaign.step_ids):
        positions.setdefault(step_id, i)
    graph: list[list[int | None]] = []
    for index, step in enumerate(campaign.steps):
        following = index + 1 if index + 1 < len(campaign.steps) else None
        targets: list[int | None]
        if isinstance(step, ExitStep):
            targets = []
        elif isinstance(step, GotoStep):
            targets = [positions[step.goto]] if step.goto in positions else []
        elif isinstance(step, BranchStep):
            targets = [positions[step.branch.then]] if step.branch.then in positions else []
            if step.branch.else_ is None:
                targets.append(following)
            elif step.branch.else_ in positions:
                targets.append(positions[step.branch.else_])
        else:
            targets = [following]
        graph.append(targets)
    return graph


def reachable(campaign: Campaign) -> set[int]:
    """Positions of the steps a lead can reach from the first one."""
    graph = _graph(campaign)
    seen: set[int] = set()
    todo: list[int] = [0] if campaign.steps else []
    while todo:
        index = todo.pop()
        if index in seen:
            continue
        seen.add(index)
        todo.extend(target for target in graph[index] if target is not None)
    return seen


def unreachable_runs(campaign: Campaign) -> list[int]:
    """The first position of each run of steps no lead can reach."""
    seen = reachable(campaign)
    starts = (index for index in range(len(campaign.steps)) if index not in seen)
    return [index for index in starts if index == 0 or index - 1 in seen]


def loops_without_wait(campaign: Campaign) -> list[int]:
    """Positions of steps that jump back into a loop with no wait in it (a lead would spin forever)."""
    # Depth-first search over the non-wait steps, kept on an explicit stack so long campaigns cannot
    # exhaust Python's recursion limit; an edge to a step still on the stack closes a loop.
    graph = [
        [t for t in targets if t is not None and not isinstance(campaign.steps[t], WaitStep)]
        for targets in _graph(campaign)
    ]
    state: dict[int, str] = {}
    closing: set[int] = set()
    for start in range(len(campaign.steps)):
        if start in state or isinstance(campaign.steps[start], WaitStep):
            continue
        state[start] = "open"
        stack: list[tuple[int, int]] = [(start, 0)]
        while stack:
            node, edge = stack[-1]
            if edge == len(graph[node]):
                state[node] = "done"
                stack.pop()
                continue
            stack[-1] = (node, edge + 1)
            target = graph[node][edge]
            if state.get(target) == "open":
                closing.add(node)
            elif target not in state:
                state[target] = "open"
                stack.append((target, 0))
    return sorted(closing)


def next_surviving_step(old: Campaign, new: Campaign, step_id: str) -> str | None:
    """The first step after ``step_id`` in the old order that the new version still has."""
    surviving = set(new.step_ids)
    order = old.step_ids
    start = order.index(step_id) + 1 if step_id in order else len(order)
    return next((candidate for candidate in order[start:] if candidate in surviving), None)
