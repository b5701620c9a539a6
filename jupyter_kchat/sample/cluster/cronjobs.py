"""The cronjob-controller and the job-controller, played on the cluster's clock.

Nothing runs in the background: reading the clock (:meth:`CronJobs.clock`) first plays, in
time order, every step that fell due since the last read, so the runs do not depend on how often
the cluster is read, and watchers see each object as it is created, changed and deleted. (The API
emulation reads the clock on every list; a single GET shows what the last read played.)
A CronJob that is not suspended starts a Job when its schedule falls due (named
``<cronjob>-<scheduled time in minutes>``, as the real controller names it), the Job's pods run
and end as the CronJob's :data:`.batch.RUNS` profile says, and the CronJob's status, its events
and its Job history limits follow as v1.30's controllers keep them.

One difference: a CronJob whose spec a client changes (resumed, rescheduled) runs from its next
scheduled time after the write; the real controller would also start the most recent
run it missed before, at once. So a CronJob made to look late stays late, for the diagnosis.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from .batch import (
    CRONJOB_CONTROLLER,
    DEFAULT_RUN,
    JOB_CONTROLLER,
    RUNS,
    RunProfile,
    finish_job,
    job_pod,
    new_job,
    retry_delay,
)
from .common import JOB_FAILED, Key, Obj, parse_rfc3339, rfc3339
from .controllers import Controllers


@dataclass
class _Run:
    """A Job the controllers are running: which pod it is on, and when its next step falls."""

    job: Key
    profile: RunProfile
    next: float
    attempts: int = 0
    lost: int = 0
    """Pods deleted while they ran (each counts as failed and is replaced)."""
    pod: Key | None = None
    """The running pod, if one runs."""
    ending: Obj | None = None
    """The running pod's status once it ends (its container's exit is known from the start)."""
    log: list[tuple[float, str]] | None = None


class CronJobs(Controllers):
    """CronJobs that run on schedule: their Jobs, pods, logs, statuses, events and history."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._runs: dict[Key, _Run] = {}
        self._watched_since: dict[Key, float] = {}
        """When a client last changed each CronJob's spec: its runs start from the first
        scheduled time after that (a generated one's, after its lastScheduleTime)."""
        self._cron_due: float | None = None
        """The cluster time of the next controller step (None: to be worked out)."""
        self._cron_busy = True
        """True while the controller plays steps, and while the cluster is being generated."""

    def start_cronjobs(self) -> None:
        """Start the controller on the generated cluster: from now on schedules fall due (a run
        due before ``now`` that would still be running is played from its start, at once)."""
        self._cron_busy = False
        self.clock()

    def clock(self) -> float:
        """Now on the cluster's clock, after the CronJob steps due by now have been played."""
        now = super().clock()
        if not self._cron_busy and (self._cron_due is None or now >= self._cron_due):
            self._cron_busy = True
            try:
                self._cron_due = self._play_until(now)
            finally:
                self._cron_busy = False
        return now

    def advance(self, seconds: float) -> None:
        """Move the cluster's clock ``seconds`` ahead (a demo that skips time, tests); what
        falls due in between is played at the next read, in order."""
        self._mono -= seconds

    def commit(self, resource: str, obj: Obj) -> Obj:
        """Store a write; a CronJob whose spec a client changed is watched afresh from now."""
        if resource == "cronjobs" and not self._cron_busy:
            meta = obj["metadata"]
            key = (meta["namespace"], meta["name"])
            old = self.objects["cronjobs"].get(key)
            if old is None or old["spec"] != obj["spec"]:
                self._watched_since[key] = super().clock()
            self._cron_due = None
        return super().commit(resource, obj)

    def delete_pod(self, namespace: str, name: str) -> Obj:
        """Delete a pod; a Job's running pod counts as failed and is replaced at once."""
        gone = super().delete_pod(namespace, name)
        for run in self._runs.values():
            if run.pod == (namespace, name):
                job = self._job_of(run)
                _between_pods(job, job["status"].get("failed", 0) + 1)
                self.commit("jobs", job)
                run.pod = run.ending = run.log = None
                run.attempts -= 1
                run.lost += 1
                run.next = super().clock()
                self._cron_due = None
        return gone

    # ------------------------------------------------------------------ stepping

    def _play_until(self, now: float) -> float:
        """Play every step due by ``now``, earliest first; returns when the next one falls."""
        while True:
            when, key = min(
                ((self._next_step(key, cj), key) for key, cj in self.objects["cronjobs"].items()),
                default=(math.inf, ("", "")),
            )
            if when > now:
                return when
            run = self._runs.get(key)
            if run is None:
                self._schedule(key, when)
            elif run.pod is None:
                self._start_pod(key, run)
            else:
                self._end_pod(key, run)

    def _next_step(self, key: Key, cronjob: Obj) -> float:
        run = self._runs.get(key)
        if run is not None:
            return run.next
        spec = cronjob["spec"]
        if spec.get("suspend") or not croniter.is_valid(spec["schedule"]):
            return math.inf
        status = cronjob.get("status", {})
        last = status.get("lastScheduleTime") or cronjob["metadata"]["creationTimestamp"]
        since = max(parse_rfc3339(last), self._watched_since.get(key, -math.inf))
        return self._cron(cronjob, since).get_next(float)

    def _cron(self, cronjob: Obj, start: float) -> croniter:
        zone = cronjob["spec"].get("timeZone")
        return croniter(
            cronjob["spec"]["schedule"],
            datetime.fromtimestamp(start, ZoneInfo(zone) if zone else timezone.utc),
        )

    def _record(
        self, obj: Obj, reason: str, message: str, when: float, component: str = CRONJOB_CONTROLLER
    ) -> None:
        """Commit a controller's Normal event at the cluster time it happened."""
        self.commit("events", self.event(obj, reason, message, "Normal", component, when, when))

    def _schedule(self, key: Key, scheduled: float) -> None:
        """Create the Job for the run scheduled at ``scheduled``."""
        cronjob = self.objects["cronjobs"][key]
        job = self.commit("jobs", new_job(self, cronjob, scheduled))
        meta = job["metadata"]
        started = parse_rfc3339(job["status"]["startTime"])
        self._record(cronjob, "SuccessfulCreate", f"Created job {meta['name']}", started)
        status = cronjob.setdefault("status", {})
        status["lastScheduleTime"] = rfc3339(scheduled)
        status["active"] = [
            {
                "kind": "Job",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "batch/v1",
                "resourceVersion": meta["resourceVersion"],
            }
        ]
        self.commit("cronjobs", cronjob)
        self._runs[key] = _Run(
            (meta["namespace"], meta["name"]), RUNS.get(key, DEFAULT_RUN), started
        )

    def _job_of(self, run: _Run) -> Obj:
        """The run's Job as stored now (a client may have replaced it, e.g. to label it)."""
        return self.objects["jobs"][run.job]

    def _start_pod(self, key: Key, run: _Run) -> None:
        """The job-controller starts the run's next pod; it runs until its container exits."""
        job, profile = self._job_of(run), run.profile
        ok = profile.succeeded and run.attempts == profile.attempts - 1
        mark = len(self.objects["events"])
        pod = job_pod(self, job, run.next, profile.runtime, ok)
        pod_key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        run.pod, run.ending, run.attempts = pod_key, pod["status"], run.attempts + 1
        run.log = self.fixed_logs[pod_key]
        self.fixed_logs[pod_key] = run.log[:1]
        self._pod_profile.pop(pod_key, None)
        pod["status"] = _running(copy.deepcopy(run.ending))
        terminated = run.ending["containerStatuses"][0]["state"]["terminated"]
        run.next = parse_rfc3339(terminated["finishedAt"])
        self.commit("pods", pod)
        for event in list(self.objects["events"].values())[mark:]:
            self.commit("events", event)
        created = parse_rfc3339(pod["metadata"]["creationTimestamp"])
        self._record(
            job,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            created,
            component=JOB_CONTROLLER,
        )
        job["status"].update(active=1, ready=1, terminating=0, uncountedTerminatedPods={})
        self.commit("jobs", job)

    def _end_pod(self, key: Key, run: _Run) -> None:
        """The running pod's container exits; the Job retries, fails or completes."""
        assert run.pod is not None and run.ending is not None and run.log is not None
        pod_key, job, profile = run.pod, self._job_of(run), run.profile
        pod = self.objects["pods"][pod_key]
        pod["status"] = run.ending
        self.fixed_logs[pod_key] = run.log
        self._log_cache = {k: v for k, v in self._log_cache.items() if k[:2] != pod_key}
        ok = pod["status"]["phase"] == "Succeeded"
        if not ok:
            self._pod_profile[pod_key] = JOB_FAILED
        self.commit("pods", pod)
        ended = run.next
        run.pod = run.ending = run.log = None
        if not ok and run.attempts < profile.attempts:
            _between_pods(job, run.attempts + run.lost)
            self.commit("jobs", job)
            run.next = ended + 1 + retry_delay(run.attempts - 1)
            return
        del self._runs[key]
        self.commit("events", finish_job(self, job, ok, run.attempts + run.lost, ended + 1))
        self.commit("jobs", job)
        cronjob = self.objects["cronjobs"].get(key)
        if cronjob is None:
            return
        status = cronjob["status"]
        status.pop("active", None)
        if ok:
            status["lastSuccessfulTime"] = job["status"]["completionTime"]
        self.commit("cronjobs", cronjob)
        name = job["metadata"]["name"]
        outcome = "Complete" if ok else "Failed"
        self._record(
            cronjob, "SawCompletedJob", f"Saw completed job: {name}, status: {outcome}", ended + 1
        )
        self._trim_history(cronjob, ended + 1)

    def _trim_history(self, cronjob: Obj, when: float) -> None:
        """Delete the oldest finished Jobs (and their pods) past the CronJob's history limits."""
        meta, spec = cronjob["metadata"], cronjob["spec"]
        ns, uid = meta["namespace"], meta["uid"]
        finished: dict[bool, list[Obj]] = {True: [], False: []}
        for (job_ns, _), job in self.objects["jobs"].items():
            owners = job["metadata"].get("ownerReferences", ())
            if job_ns != ns or not any(o["uid"] == uid for o in owners):
                continue
            for cond in job["status"].get("conditions", ()):
                if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
                    finished[cond["type"] == "Complete"].append(job)
        limits = {
            True: spec.get("successfulJobsHistoryLimit", 3),
            False: spec.get("failedJobsHistoryLimit", 1),
        }
        for ok, jobs in finished.items():
            jobs.sort(key=lambda j: j["status"]["startTime"])
            for job in jobs[: max(0, len(jobs) - limits[ok])]:
                self._delete_job(job)
                name = job["metadata"]["name"]
                self._record(cronjob, "SuccessfulDelete", f"Deleted job {name}", when)

    def _delete_job(self, job: Obj) -> None:
        """Delete a Job; the garbage collector takes its pods with it."""
        meta = job["metadata"]
        for pod in list(self.objects["pods"].values()):
            owners = pod["metadata"].get("ownerReferences", ())
            if any(o["uid"] == meta["uid"] for o in owners):
                self._drop_pod(pod)
        self.remove("jobs", (meta["namespace"], meta["name"]))


def _between_pods(job: Obj, failed: int) -> None:
    """A Job's status with no pod running: ``active`` is left out at 0, as the API writes it."""
    status = job["status"]
    status.pop("active", None)
    status.update(failed=failed, ready=0)


def _running(status: Obj) -> Obj:
    """A Job pod's status while its one container runs (from the status it ends with)."""
    container = status["containerStatuses"][0]
    terminated = container["state"]["terminated"]
    container.update(
        state={"running": {"startedAt": terminated["startedAt"]}}, ready=True, started=True
    )
    for cond in status["conditions"]:
        cond["status"] = "True"
        cond.pop("reason", None)
        if cond["type"] in ("PodReadyToStartContainers", "Ready", "ContainersReady"):
            cond["lastTransitionTime"] = terminated["startedAt"]
    status["phase"] = "Running"
    return status
