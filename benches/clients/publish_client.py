"""One publish benchmark run, for either SDK: ``--sdk pyensign_fast`` or ``--sdk pyensign``
(run it with the interpreter of the virtualenv that has that SDK). Prints one JSON line.

Modes:
  batch   ``await client.publish(topic, [1000 events])`` as fast as it goes
  single  one ``await client.publish(topic, event)`` per event
  rate    one event every 1/R seconds; publish→ack latency from the call to the ack
          callback (acks come back in publish order on one stream, so the k-th ack
          belongs to the k-th event)

Client CPU is this process's own ``getrusage(RUSAGE_SELF)`` (every thread included) over
the timed section, which ends when every event has its ack.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import resource
import time


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run(a: argparse.Namespace) -> dict:
    sdk = importlib.import_module(f"{a.sdk}.ensign")
    events_mod = importlib.import_module(f"{a.sdk}.events")
    Event = events_mod.Event
    kwargs = {"endpoint": a.endpoint, "insecure": True}
    if a.auth_url:
        kwargs.update(auth_url=a.auth_url, client_id=a.client_id, client_secret=a.client_secret)
    else:
        kwargs.update(auth_url="")
    client = sdk.Ensign(**kwargs)
    await client.create_topic(a.topic)
    payload = b"x" * a.size
    acked = 0
    nacked = 0
    ack_times: list = []

    def count_ack(ack):
        nonlocal acked
        acked += 1
        if a.mode == "rate":
            ack_times.append(time.perf_counter())

    def count_nack(nack):
        nonlocal nacked
        nacked += 1

    # pyensign awaits its callbacks, so they must be coroutine functions there; ours
    # take plain functions (coroutine functions work too, at the cost of a task each).
    if a.sdk == "pyensign" or a.async_callbacks:

        async def on_ack(ack):
            count_ack(ack)

        async def on_nack(nack):
            count_nack(nack)

    else:
        on_ack, on_nack = count_ack, count_nack

    # Warm up: open the stream and resolve the topic outside the timed section.
    warm = Event(payload, "application/json")
    await client.publish(a.topic, warm, on_ack=on_ack, on_nack=on_nack)
    while acked + nacked < 1:
        await asyncio.sleep(0.001)
    acked = nacked = 0
    ack_times.clear()

    sent: list = []
    cpu0, t0 = cpu(), time.perf_counter()
    if a.mode == "batch":
        for start in range(0, a.events, a.batch):
            n = min(a.batch, a.events - start)
            batch = [Event(payload, "application/json") for _ in range(n)]
            await client.publish(
                a.topic, batch, on_ack=on_ack if a.sdk == "pyensign" else None, on_nack=on_nack
            )
    elif a.mode == "single":
        cb = on_ack if a.sdk == "pyensign" else None
        for _ in range(a.events):
            await client.publish(
                a.topic, Event(payload, "application/json"), on_ack=cb, on_nack=on_nack
            )
    else:
        for i in range(a.events):
            due = t0 + i / a.rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            sent.append(time.perf_counter())
            await client.publish(
                a.topic, Event(payload, "application/json"), on_ack=on_ack, on_nack=on_nack
            )
    if a.sdk == "pyensign_fast" and a.mode != "rate":
        # Waits until every event has its outcome; nacks were counted by on_nack.
        await client.flush(timeout=600)
        acked = a.events - nacked
    else:
        deadline = time.perf_counter() + 600
        while acked + nacked < a.events and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
    seconds = time.perf_counter() - t0
    used = cpu() - cpu0
    result = {
        "sdk": a.sdk,
        "mode": a.mode,
        "size": a.size,
        "events": a.events,
        "batch": a.batch if a.mode == "batch" else 1,
        "seconds": round(seconds, 4),
        "events_per_s": round(a.events / seconds, 1),
        "cpu_per_event_us": round(used / a.events * 1e6, 3),
        "acked": acked,
        "nacked": nacked,
        "p50_us": None,
        "p99_us": None,
    }
    if a.mode == "rate" and ack_times:
        lat = sorted((t - s) * 1e6 for s, t in zip(sent, ack_times))
        result["p50_us"] = round(lat[len(lat) // 2], 1)
        result["p99_us"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1)
        result["achieved_rate"] = (
            round(len(sent) / (sent[-1] - sent[0]), 1) if len(sent) > 1 else None
        )
    try:
        await asyncio.wait_for(client.close(), 30)
    except Exception:
        pass
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sdk", choices=["pyensign", "pyensign_fast"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--auth-url", default="")
    p.add_argument("--client-id", default="")
    p.add_argument("--client-secret", default="")
    p.add_argument("--topic", default="bench")
    p.add_argument("--mode", choices=["batch", "single", "rate"], default="batch")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--rate", type=float, default=10_000.0)
    p.add_argument("--async-callbacks", action="store_true", help="coroutine callbacks")
    a = p.parse_args()
    print(json.dumps(asyncio.run(run(a))), flush=True)


if __name__ == "__main__":
    main()
