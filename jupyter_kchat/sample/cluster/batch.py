"""Batch: CronJobs, the Jobs they created and those Jobs' finished pods, as v1.30 writes them.

``data/backup-nightly``'s last run failed (three pods exited 1, backoff limit 2 reached), the run
before it completed; ``data/etl-daily``'s last run completed; ``ml/retrain-weekly`` is suspended.
Finished pods stay listed, as they do until their Job goes, and keep their logs. Later runs
are the clock-driven controller's (:mod:`.cronjobs`), built with the same helpers here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .common import (
    DEFAULT_TOLERATIONS,
    JOB_FAILED,
    Obj,
    image_id,
    owner_ref,
    parse_rfc3339,
    rfc3339,
)

if TYPE_CHECKING:
    from . import NodeDef, SampleCluster

BACKUP_ERROR = (
    'pg_dump: error: connection to server at "postgres.data.svc" (10.0.3.7), port 5432 failed: '
    'FATAL:  password authentication failed for user "backup"'
)
BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
POD_COUNT = 5
"""How many pods the Jobs here leave behind (the generator counts them in the cluster's size)."""
FAILED_PODS = 3
"""How many of them failed (the backup's three attempts)."""
JOB_CONTROLLER = "job-controller"
CRONJOB_CONTROLLER = "cronjob-controller"
POSTGRES_IMAGE = "postgres:16.3"
DAY = 86400.0


@dataclass(frozen=True)
class RunProfile:
    """How every run of a CronJob goes: how many pods it tries, whether the last one succeeds,
    and how long each pod runs (seconds)."""

    attempts: int
    succeeded: bool
    runtime: float


RUNS = {
    ("data", "backup-nightly"): RunProfile(3, False, 4),
    ("data", "etl-daily"): RunProfile(1, True, 1260),
    ("ml", "retrain-weekly"): RunProfile(1, True, 7290),
}
"""Each sample CronJob's runs, as its generated history shows them (the backup keeps failing
on the same password error until someone fixes it); any other CronJob's runs succeed."""
DEFAULT_RUN = RunProfile(1, True, 60)


def make_batch(c: SampleCluster) -> None:
    """The three CronJobs and their Jobs."""
    backup = _cronjob(
        c,
        "data",
        "backup-nightly",
        "0 2 * * *",
        _backup_container(),
        c.now - 120 * DAY,
        backoff_limit=2,
    )
    last = _last_ended_run(c.now, 2 * 3600, RUNS[("data", "backup-nightly")])
    done = _job(c, backup, last - DAY, attempts=1, succeeded=True, runtime=412)
    failed = _job(c, backup, last, attempts=3, succeeded=False, runtime=4)
    backup["status"] = {
        "lastScheduleTime": rfc3339(last),
        "lastSuccessfulTime": done["status"]["completionTime"],
    }
    for job, outcome in ((done, "Complete"), (failed, "Failed")):
        name = job["metadata"]["name"]
        when = _run_start(job)
        c.event(
            backup,
            "SuccessfulCreate",
            f"Created job {name}",
            "Normal",
            CRONJOB_CONTROLLER,
            when,
            when,
        )
        ended = _run_end(job)
        c.event(
            backup,
            "SawCompletedJob",
            f"Saw completed job: {name}, status: {outcome}",
            "Normal",
            CRONJOB_CONTROLLER,
            ended,
            ended,
        )

    etl_container: Obj = {
        "name": "etl",
        "image": "registry.example.com/data/etl-worker:3.2.0",
        "args": ["run", "--pipeline", "daily"],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
    }
    etl = _cronjob(c, "data", "etl-daily", "30 1 * * *", etl_container, c.now - 200 * DAY)
    etl_run = _last_ended_run(c.now, 5400, RUNS[("data", "etl-daily")])
    etl_job = _job(c, etl, etl_run, attempts=1, succeeded=True, runtime=1260)
    etl["status"] = {
        "lastScheduleTime": rfc3339(etl_run),
        "lastSuccessfulTime": etl_job["status"]["completionTime"],
    }

    retrain_container: Obj = {
        "name": "retrain",
        "image": "registry.example.com/ml/trainer:0.14.2",
        "args": ["retrain", "--full"],
        "resources": {"requests": {"cpu": "4", "memory": "12Gi"}},
    }
    retrain = _cronjob(
        c,
        "ml",
        "retrain-weekly",
        "0 3 * * 0",
        retrain_container,
        c.now - 90 * DAY,
        suspend=True,
        ttl=DAY,
    )
    ran = c.now - 20 * DAY
    retrain["status"] = {
        "lastScheduleTime": rfc3339(ran),
        "lastSuccessfulTime": rfc3339(ran + 7300),
    }


def job_log(pod: Obj) -> list[tuple[float, str]]:
    """What a Job pod here printed, ending with why it failed (or that it finished)."""
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    start = parse_rfc3339(term["startedAt"])
    end = parse_rfc3339(term["finishedAt"])
    job = pod["metadata"]["labels"]["job-name"]
    day = rfc3339(start)[:10]
    if job.startswith("backup-nightly"):
        lines = [
            f"{rfc3339(start)} starting nightly backup database=shop "
            f"target=s3://backups/postgres/shop-{day}.dump"
        ]
        if term["exitCode"]:
            return [(start, lines[0]), (end, BACKUP_ERROR)]
        tables = ("public.customers", "public.orders", "public.order_items", "public.carts")
        out = [(start, lines[0])]
        for i, table in enumerate(tables):
            out.append(
                (
                    start + (end - start) * (i + 1) / 6,
                    f'pg_dump: dumping contents of table "{table}"',
                )
            )
        out.append((end, f"{rfc3339(end)} backup finished size=1.8GiB duration={end - start:.0f}s"))
        return out
    return [
        (start, f"{rfc3339(start)} INFO  pipeline=daily starting 14 tasks"),
        (start + (end - start) / 2, f"{rfc3339(start + (end - start) / 2)} INFO  7/14 tasks done"),
        (end, f"{rfc3339(end)} INFO  pipeline=daily finished ok rows=18230411"),
    ]


def _last_run(now: float, offset: float) -> float:
    """The latest daily run at ``offset`` seconds past midnight UTC, no later than ``now``."""
    return now - (now - offset) % DAY


def running_pods(now: float) -> int:
    """Job pods the controller starts at once on a cluster generated at ``now``: etl-daily's
    pod while its run is still going (the generator counts it in the cluster's size too)."""
    etl = RUNS[("data", "etl-daily")]
    return int(_last_ended_run(now, 5400, etl) != _last_run(now, 5400))


def _last_ended_run(now: float, offset: float, profile: RunProfile) -> float:
    """The latest daily run at ``offset`` that had ended by ``now``; one still running then is
    left to the controller (:mod:`.cronjobs`), which plays it from its start."""
    last = _last_run(now, offset)
    tries = profile.attempts
    length = tries * (profile.runtime + 6) + sum(retry_delay(i) for i in range(tries - 1)) + 3
    return last - DAY if now < last + length else last


def _backup_container() -> Obj:
    return {
        "name": "pg-dump",
        "image": POSTGRES_IMAGE,
        "command": ["/bin/sh", "-c"],
        "args": ["pg_dump -h postgres.data.svc -U backup -Fc shop > /backup/shop-$(date +%F).dump"],
        "env": [
            {
                "name": "PGPASSWORD",
                "valueFrom": {
                    "secretKeyRef": {"name": "postgres-credentials", "key": "backup-password"}
                },
            }
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
    }


def _cronjob(
    c: SampleCluster,
    ns: str,
    name: str,
    schedule: str,
    container: Obj,
    created: float,
    *,
    backoff_limit: int = 6,
    suspend: bool = False,
    ttl: float | None = None,
) -> Obj:
    container = dict(
        container,
        terminationMessagePath="/dev/termination-log",
        terminationMessagePolicy="File",
        imagePullPolicy="IfNotPresent",
    )
    job_spec: Obj = {
        "backoffLimit": backoff_limit,
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": name}},
            "spec": {
                "containers": [container],
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        },
    }
    if ttl is not None:
        job_spec["ttlSecondsAfterFinished"] = int(ttl)
    meta = c.meta(name, ns, created, {"app": name})
    meta["generation"] = 2 if suspend else 1
    return c.store(
        "cronjobs",
        {
            "kind": "CronJob",
            "apiVersion": "batch/v1",
            "metadata": meta,
            "spec": {
                "schedule": schedule,
                "concurrencyPolicy": "Forbid",
                "suspend": suspend,
                "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": job_spec},
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 1,
            },
            "status": {},
        },
    )


def _job(
    c: SampleCluster,
    cronjob: Obj,
    scheduled: float,
    *,
    attempts: int,
    succeeded: bool,
    runtime: float,
) -> Obj:
    """One run of ``cronjob``: its Job, ``attempts`` pods (the last one succeeding or not)."""
    job = c.store("jobs", new_job(c, cronjob, scheduled))
    t = parse_rfc3339(job["status"]["startTime"])
    finished = t
    for attempt in range(attempts):
        ok = succeeded and attempt == attempts - 1
        pod = job_pod(c, job, t, runtime, ok)
        c.event(
            job,
            "SuccessfulCreate",
            f"Created pod: {pod['metadata']['name']}",
            "Normal",
            JOB_CONTROLLER,
            t,
            t,
        )
        finished = t + runtime + 2
        t = finished + retry_delay(attempt)
    finish_job(c, job, succeeded, attempts, finished + 1)
    return job


def new_job(c: SampleCluster, cronjob: Obj, scheduled: float) -> Obj:
    """The Job the cronjob-controller creates for the run scheduled at ``scheduled``, started
    (``status.startTime``) a moment later; named ``<cronjob>-<scheduled time in minutes>``."""
    ns = cronjob["metadata"]["namespace"]
    name = f"{cronjob['metadata']['name']}-{int(scheduled // 60)}"
    started = scheduled + c.rng.uniform(0.5, 2)
    spec = cronjob["spec"]["jobTemplate"]["spec"]
    meta = c.meta(name, ns, started)
    uid = meta["uid"]
    labels = {
        **spec["template"]["metadata"]["labels"],
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }
    meta["labels"] = labels
    meta["annotations"] = {"batch.kubernetes.io/cronjob-scheduled-timestamp": rfc3339(scheduled)}
    meta["generation"] = 1
    meta["ownerReferences"] = [owner_ref(cronjob)]
    template = {
        "metadata": {"creationTimestamp": None, "labels": dict(labels)},
        "spec": spec["template"]["spec"],
    }
    job: Obj = {
        "kind": "Job",
        "apiVersion": "batch/v1",
        "metadata": meta,
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": spec["backoffLimit"],
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "manualSelector": False,
            "template": template,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
        },
        "status": {"startTime": rfc3339(started)},
    }
    if "ttlSecondsAfterFinished" in spec:
        job["spec"]["ttlSecondsAfterFinished"] = spec["ttlSecondsAfterFinished"]
    return job


def retry_delay(attempt: int) -> float:
    """The job-controller's back-off before the pod after failed attempt ``attempt`` (from 0)."""
    return 10.0 * 2**attempt


def finish_job(c: SampleCluster, job: Obj, succeeded: bool, attempts: int, when: float) -> Obj:
    """End ``job`` at ``when``: Complete, or Failed with BackoffLimitExceeded after ``attempts``
    pods; returns the job-controller's event about it."""
    started = job["status"]["startTime"]
    status: Obj
    if succeeded:
        status = {
            "conditions": [job_condition("Complete", when)],
            "startTime": started,
            "completionTime": rfc3339(when),
            "succeeded": 1,
        }
        if attempts > 1:
            status["failed"] = attempts - 1
        event = c.event(job, "Completed", "Job completed", "Normal", JOB_CONTROLLER, when, when)
    else:
        condition = job_condition("Failed", when)
        condition.update(reason="BackoffLimitExceeded", message=BACKOFF_LIMIT_MESSAGE)
        status = {"conditions": [condition], "startTime": started, "failed": attempts}
        event = c.event(
            job,
            "BackoffLimitExceeded",
            BACKOFF_LIMIT_MESSAGE,
            "Warning",
            JOB_CONTROLLER,
            when,
            when,
        )
    status.update(terminating=0, ready=0, uncountedTerminatedPods={})
    job["status"] = status
    return event


def job_condition(kind: str, when: float) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": rfc3339(when),
        "lastTransitionTime": rfc3339(when),
    }


def _run_start(job: Obj) -> float:
    return parse_rfc3339(job["metadata"]["creationTimestamp"])


def _run_end(job: Obj) -> float:
    return parse_rfc3339(job["status"]["conditions"][0]["lastTransitionTime"])


def _node(c: SampleCluster) -> NodeDef:
    pool = [n for n in c.nodes if n.ready and n.role == "worker"]
    return min(c.rng.sample(pool, min(2, len(pool))), key=lambda n: n.pods)


def job_pod(c: SampleCluster, job: Obj, created: float, runtime: float, ok: bool) -> Obj:
    """A finished pod of ``job``: Succeeded (exit 0) or Failed (exit 1, reason Error)."""
    ns = job["metadata"]["namespace"]
    name = f"{job['metadata']['name']}-{c.suffix()}"
    node = _node(c)
    node.pods += 1
    template = job["spec"]["template"]
    meta = c.meta(name, ns, created, dict(template["metadata"]["labels"]))
    meta["generateName"] = f"{job['metadata']['name']}-"
    meta["ownerReferences"] = [owner_ref(job)]
    spec = dict(template["spec"])
    spec.update(
        tolerations=list(DEFAULT_TOLERATIONS),
        serviceAccountName="default",
        serviceAccount="default",
        nodeName=node.name,
        priority=0,
        enableServiceLinks=True,
        preemptionPolicy="PreemptLowerPriority",
    )
    container = spec["containers"][0]
    started = created + c.rng.uniform(1, 3)
    finished = started + runtime
    pod_ip = node.pod_ip()
    cid = c.container_id()
    reason = "PodCompleted" if ok else "PodFailed"

    def cond(kind: str, status: bool, when: float, why: str | None = None) -> Obj:
        out: Obj = {
            "type": kind,
            "status": "True" if status else "False",
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(when),
        }
        if why:
            out["reason"] = why
        return out

    image = container["image"]
    pod: Obj = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": meta,
        "spec": spec,
        "status": {
            "phase": "Succeeded" if ok else "Failed",
            "conditions": [
                cond("PodReadyToStartContainers", False, finished + 1),
                cond("Initialized", True, created + 1),
                cond("Ready", False, finished, reason),
                cond("ContainersReady", False, finished, reason),
                cond("PodScheduled", True, created),
            ],
            "hostIP": node.ip,
            "hostIPs": [{"ip": node.ip}],
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "startTime": rfc3339(created + 1),
            "containerStatuses": [
                {
                    "name": container["name"],
                    "state": {
                        "terminated": {
                            "exitCode": 0 if ok else 1,
                            "reason": "Completed" if ok else "Error",
                            "startedAt": rfc3339(started),
                            "finishedAt": rfc3339(finished),
                            "containerID": cid,
                        }
                    },
                    "lastState": {},
                    "ready": False,
                    "restartCount": 0,
                    "image": image if "/" in image else f"docker.io/library/{image}",
                    "imageID": image_id(image),
                    "containerID": cid,
                    "started": False,
                }
            ],
            "qosClass": "Burstable",
        },
    }
    c.store("pods", pod)
    c.fixed_logs[(ns, name)] = job_log(pod)
    if not ok:
        c._pod_profile[(ns, name)] = JOB_FAILED
    host = node.name
    path = f"spec.containers{{{container['name']}}}"
    c.event(
        pod,
        "Scheduled",
        f"Successfully assigned {ns}/{name} to {host}",
        "Normal",
        "default-scheduler",
        created,
        created,
    )
    for why, message in (
        ("Pulled", f'Container image "{image}" already present on machine'),
        ("Created", f"Created container {container['name']}"),
        ("Started", f"Started container {container['name']}"),
    ):
        c.event(
            pod, why, message, "Normal", "kubelet", started, started, host=host, field_path=path
        )
    return pod
