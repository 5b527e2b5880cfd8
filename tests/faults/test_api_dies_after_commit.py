"""The API dies between the commit and the enqueue: the sweeper processes the version, and its job
answers Queued, never 404, until then."""

from __future__ import annotations

import time

import httpx
import pytest
from redis import Redis

from orderledger.domain.ids import job_id, order_aggregate_id
from tests.conftest import unique
from tests.e2e.helpers import wait_until
from tests.faults.ledger import an_order, tally

pytestmark = pytest.mark.faults

# The sweeper leaves a commit one sweep interval (2 s) for its job, then processes it on the next sweep.
RECOVERY_BOUND_SECONDS = 15.0


def test_a_command_whose_api_died_before_the_enqueue_is_processed_and_never_unknown(stack, settings, tenant):
    tenant_id, key = tenant
    stack.worker()
    observer, _ = stack.api()  # a second API process, alive throughout, as behind a load balancer
    order_id = unique("order")
    order = order_aggregate_id(str(tenant_id), order_id)
    commands = [("POST", "/orders", an_order(order_id)),
                ("POST", f"/orders/{order_id}/change-status", {"status": "Shipped"})]
    recoveries, answers = [], []
    with httpx.Client(timeout=10) as client:
        for version, (method, path, body) in enumerate(commands, start=1):
            victim, process = stack.api()
            with pytest.raises(httpx.TransportError):  # no answer: the process is gone
                client.request(method, f"{victim}/api/v3{path}", json=body,
                               headers={"apikey": key, "X-Fault-Inject": "exit-after-commit"})
            died = time.monotonic()
            assert process.wait(10) == 137
            job = job_id(order, version)

            def completed() -> bool:
                answer = client.get(f"{observer}/api/v3/orders/jobs/{job}", headers={"apikey": key})
                answers.append(answer.json()["status"] if answer.status_code == 200 else answer.status_code)
                return answers[-1] == "Completed"

            wait_until(completed, RECOVERY_BOUND_SECONDS, f"job {job} to complete")
            recoveries.append(time.monotonic() - died)
            with Redis.from_url(settings.redis_url) as redis:
                assert not redis.exists(f"rq:job:{job}"), "it was never enqueued: the sweeper processed it"

    counted = tally(settings, [order])
    print(f"\napi died after commit: {len(commands)} commands, {counted.processed}/{counted.committed} versions "
          f"processed, duplicates={counted.duplicates}, recovered in "
          f"{', '.join(f'{r:.2f}s' for r in recoveries)} (bound {RECOVERY_BOUND_SECONDS:.0f}s); "
          f"job answers: {answers.count('Queued')} Queued, {answers.count('Completed')} Completed, "
          f"{len(answers) - answers.count('Queued') - answers.count('Completed')} other")
    assert set(answers) == {"Queued", "Completed"}  # never 404, never Failed
    assert counted.exact and counted.committed == len(commands)
