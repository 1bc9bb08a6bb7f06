"""One process, run under ``valgrind --tool=callgrind`` by ``benches/wheel_compare.py``:
an in-memory ``LocalEnsign`` and a client in this process; publishes ``--events`` 100-byte
events in batches of 1,000 with an ``on_ack`` each (``--callbacks none``: without) and
flushes (every event acked).

Instruction counts do not depend on how busy the machine is, so two builds of the same
code can be compared on a loaded machine: the difference between two event counts, divided
by the difference in events, is the instructions per published-and-acked event (client
and server together), free of the start-up cost.

    python benches/clients/icount_publish.py --events 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json


async def run(events: int, callbacks: str) -> dict:
    from pyensign_fast.events import Event
    from pyensign_fast.server import LocalEnsign

    acked = 0

    def on_ack(_ack: object) -> None:
        nonlocal acked
        acked += 1

    async with LocalEnsign() as srv:
        client = srv.client()
        await client.create_topic("icount")
        payload = b"x" * 100
        for start in range(0, events, 1000):
            batch = [Event(payload, "text/plain") for _ in range(min(1000, events - start))]
            if callbacks == "plain":
                await client.publish("icount", batch, on_ack=on_ack)
            else:
                await client.publish("icount", batch)
        await client.flush(timeout=600)
        await client.close(timeout=60)
    return {"events": events, "acked": acked}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--callbacks", choices=["plain", "none"], default="plain")
    a = p.parse_args()
    result = asyncio.run(run(a.events, a.callbacks))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
