"""Jobs and CronJobs: a failed Job (backoff limit reached, deadline exceeded) with its failed
pods' last log lines; a CronJob whose last run failed (one finding, not one per Job), that is
suspended, or whose schedule fell due without a run starting (``croniter`` reads the schedule
as the cronjob-controller does, in the CronJob's time zone)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ..health import PodView, describe_exit, owner_workload
from ..shape import age_of, clip, plural
from .evidence import EventIndex
from .issue import LOG_PODS, Issue, log_request, pod_names
from .kinds import CronJob, Job

LATE_AFTER = 600.0
"""Seconds past a scheduled time (unless the CronJob's startingDeadlineSeconds says otherwise)
after which a run that did not start counts as missed."""


@dataclass
class _Run:
    job: Job
    failed: bool
    reason: str
    message: str

    @property
    def started(self) -> float:
        when = self.job.status.start_time or self.job.metadata.creation_timestamp
        return when.timestamp() if when else 0.0


def _run(job: Job) -> _Run:
    for cond in job.status.conditions:
        if cond.type == "Failed" and cond.status == "True":
            return _Run(job, True, cond.reason or "Failed", cond.message)
    return _Run(job, False, "", "")


def _cronjob_of(job: Job) -> str:
    for ref in job.metadata.owner_references:
        if ref.kind == "CronJob":
            return ref.name
    return ""


def _failed_issue(run: _Run, cronjob: str, pods: list[PodView], events: EventIndex) -> Issue:
    job = run.job
    ns, name = job.metadata.namespace, job.metadata.name
    failed = sorted((p for p in pods if p.problem), key=lambda p: p.name)
    limit = job.spec.backoff_limit
    what = f"{run.reason}: {run.message}" if run.message else run.reason
    if cronjob:
        header = f"Job failed: CronJob {ns}/{cronjob}'s last run, Job {name}, failed ({run.reason})"
        key = f"{ns}/{cronjob}"
    else:
        header = f"Job failed: Job {ns}/{name} failed ({run.reason})"
        key = f"{ns}/{name}"
    evidence = [f"   Evidence: {clip(what, 300)}"]
    if failed:
        first = failed[0]
        term = first.worst.state.terminated if first.worst is not None else None
        exit_text = f" ({describe_exit(term)})" if term is not None else ""
        tried = f", backoffLimit {limit}" if limit is not None else ""
        evidence.append(
            f"   {plural(job.status.failed or len(failed), 'pod')} failed{tried}: "
            f"{pod_names(failed, 4)}{exit_text}"
        )
    evidence.extend(events.lines(ns, "Job", name))
    rerun = (
        f" then rerun it: kubectl create job -n {ns} --from=cronjob/{cronjob} {cronjob}-manual"
        if cronjob
        else ""
    )
    sample = failed[-1].name if failed else name
    issue = Issue(
        category="Job failed",
        severity=1,
        key=key,
        header=header,
        evidence=evidence,
        next=(
            f"fix the cause the log shows; get_pod_logs name={sample} namespace={ns} for the "
            f"whole output{rerun}."
        ),
        brief=f"(Job {name}) {run.reason}",
        impact=max(1, len(failed)),
        subjects={key, f"{ns}/{name}", *(p.key for p in failed)},
    )
    for view in failed[-LOG_PODS:][::-1]:
        request = log_request(view)
        if request is not None:
            issue.logs.append(request)
    return issue


def _due(cj: CronJob, before: float) -> tuple[float | None, str]:
    """When the schedule last fell due before ``before`` (None if the schedule cannot be read),
    or why it cannot be read."""
    try:
        zone = ZoneInfo(cj.spec.time_zone) if cj.spec.time_zone else timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        return None, f"its timeZone {cj.spec.time_zone!r} is not a known time zone"
    if not croniter.is_valid(cj.spec.schedule):
        return None, f"its schedule {cj.spec.schedule!r} is not a valid cron expression"
    start = datetime.fromtimestamp(before, zone)
    due: datetime = croniter(cj.spec.schedule, start).get_prev(datetime)
    return due.timestamp(), ""


def _cronjob_issue(cj: CronJob, now: float, events: EventIndex) -> Issue | None:
    ns, name = cj.metadata.namespace, cj.metadata.name
    last = cj.status.last_schedule_time
    last_text = f"last scheduled {age_of(last, now)} ago" if last else "never scheduled"
    if cj.spec.suspend:
        return Issue(
            category="CronJob suspended",
            severity=6,
            key=f"{ns}/{name}",
            header=f"CronJob suspended: CronJob {ns}/{name} ({cj.spec.schedule}) has suspend=true",
            evidence=[f"   Evidence: no new runs start while suspended; {last_text}"],
            next=(
                f"if it should run, resume it (kubectl patch cronjob -n {ns} {name} -p "
                '\'{"spec":{"suspend":false}}\'); a change needs approval.'
            ),
            brief=f"suspend=true, {last_text}",
            subjects={f"{ns}/{name}"},
        )
    created = cj.metadata.creation_timestamp
    grace = float(cj.spec.starting_deadline_seconds or LATE_AFTER)
    due, unreadable = _due(cj, now - grace)
    if unreadable:
        cause = unreadable
    elif due is None or (created is not None and created.timestamp() > due):
        return None
    elif last is None or last.timestamp() < due - 1:
        cause = (
            f"it was due {age_of(datetime.fromtimestamp(due, timezone.utc), now)} ago and did "
            f"not start ({last_text})"
        )
    else:
        return None
    return Issue(
        category="CronJob not scheduled",
        severity=5,
        key=f"{ns}/{name}",
        header=f"CronJob not scheduled: CronJob {ns}/{name} ({cj.spec.schedule}) missed its run",
        evidence=[f"   Evidence: {cause}", *events.lines(ns, "CronJob", name)],
        next=(
            f"check the schedule and the cronjob-controller's events (list_events "
            f"namespace={ns} involved_object={name}); a run missed by more than "
            "startingDeadlineSeconds is skipped, and 100 missed runs stop the CronJob."
        ),
        brief=f"({cj.spec.schedule}) {cause}",
        subjects={f"{ns}/{name}"},
    )


def job_issues(
    jobs: list[Job], cronjobs: list[CronJob], pods: list[PodView], events: EventIndex
) -> tuple[list[Issue], set[tuple[str, str, str]]]:
    """Findings for Jobs and CronJobs, and the (namespace, "Job", name) of every failed Job
    whose pods they explain (the pod analyzer leaves those out)."""
    now = time.time()
    pods_of: dict[tuple[str, str], list[PodView]] = {}
    for view in pods:
        kind, name = owner_workload(view.pod)
        if kind == "Job":
            pods_of.setdefault((view.namespace, name), []).append(view)
    latest: dict[tuple[str, str], _Run] = {}
    issues: list[Issue] = []
    explained: set[tuple[str, str, str]] = set()
    for job in jobs:
        run = _run(job)
        cronjob = _cronjob_of(job)
        ns = job.metadata.namespace
        if run.failed:
            explained.add((ns, "Job", job.metadata.name))
        if cronjob:
            current = latest.get((ns, cronjob))
            if current is None or run.started > current.started:
                latest[(ns, cronjob)] = run
        elif run.failed:
            pods_here = pods_of.get((ns, job.metadata.name), [])
            issues.append(_failed_issue(run, "", pods_here, events))
    for (ns, cronjob), run in latest.items():
        if run.failed:
            pods_here = pods_of.get((ns, run.job.metadata.name), [])
            issues.append(_failed_issue(run, cronjob, pods_here, events))
    for cj in cronjobs:
        issue = _cronjob_issue(cj, now, events)
        if issue is not None:
            issues.append(issue)
    return issues, explained
