#!/usr/bin/env python3
"""Barrier-protocol model of decode_fp8s_kernel (one CTA), written for the
review of step 2 of docs/fp8_small_h_design.md: the producer, WG 1 (attend)
and WG 2 (convert) as generators of their barrier operations, in the order
of sm90_fp8s_producer.cuh, sm90_fp8s_attend_wg.cuh and
sm90_fp8s_convert_wg.cuh (each warpgroup as one agent: all its threads do
the same operations). Random item lists (rows 0, n_tiles 0, repeated and
alternating requests), random interleavings. Checks: no deadlock, the two
consumer warpgroups meet the named barriers in the same order, and no
mbarrier is two phases ahead of a waiter (a parity wait would then alias).
Keep it in step with the kernel when the protocol changes (step 3's pool).
Usage: python3 cuda/src/sm90/dev/fp8s_protocol_model.py [runs]"""
import random
import sys

STAGES = 2


class MBar:
    def __init__(self, count):
        self.count, self.pending, self.phase = count, count, 0

    def arrive(self, n):
        self.pending -= n
        assert self.pending >= 0, "more arrivals than the init count"
        if self.pending == 0:
            self.phase += 1
            self.pending = self.count

    def done(self, idx):  # the kernel waits on parity idx & 1
        assert self.phase <= idx + 1, ("parity aliasing", self.phase, idx)
        return self.phase > idx


def producer(items):
    tile_count = q_loads = 0
    loaded = None
    for req, rows, nt in items:
        if rows == 0 or nt == 0:
            continue
        if req != loaded:
            if q_loads > 0:
                yield ("wait", "QEmpty", q_loads - 1)
            yield ("arrive", "QFull", 128)
            q_loads += 1
            loaded = req
        for _ in range(nt):
            st, rnd = tile_count % STAGES, tile_count // STAGES
            if rnd > 0:
                yield ("wait", f"Empty{st}", rnd - 1)
            yield ("arrive", f"Full{st}", 132)
            tile_count += 1
    for k in range(min(STAGES, tile_count)):
        tile = tile_count - 1 - k
        yield ("wait", f"Empty{tile % STAGES}", tile // STAGES)


def next_item_reloads_q(items, index, loaded):
    for req, rows, nt in items[index + 1:]:
        if rows > 0 and nt > 0:
            return req != loaded
    return False


def attend(items):
    tile_count = q_loads = 0
    loaded = None
    for index, (req, rows, nt) in enumerate(items):
        if rows == 0:
            continue
        if nt > 0 and req != loaded:
            yield ("wait", "QFull", q_loads)
            q_loads += 1
            loaded = req
        for t in range(nt):
            st = tile_count % STAGES
            yield ("named", 4)  # VReady
            yield ("wait", f"Full{st}", tile_count // STAGES)
            yield ("arrive", f"Empty{st}", 128)
            if t == nt - 1 and next_item_reloads_q(items, index, loaded):
                yield ("arrive", "QEmpty", 128)
            yield ("arrive", "Red", 128)
            yield ("wait", "Red", tile_count)
            yield ("arrive", "P", 128)
            yield ("wait", "P", tile_count)
            if t < nt - 1:
                yield ("named", 5)  # PoolFree
            tile_count += 1
        yield ("named", 3)  # ItemEnd


def convert(items):
    tile_count = 0
    for req, rows, nt in items:
        if rows == 0:
            continue
        for t in range(nt):
            st = tile_count % STAGES
            if t > 0:
                yield ("named", 5)
            yield ("wait", f"Full{st}", tile_count // STAGES)
            yield ("named", 4)
            yield ("arrive", f"Empty{st}", 128)
            tile_count += 1
        yield ("named", 3)


def run(items, rng):
    bars = {f"Full{s}": MBar(132) for s in range(STAGES)}
    bars.update({f"Empty{s}": MBar(256) for s in range(STAGES)})
    bars.update(QFull=MBar(128), QEmpty=MBar(128), Red=MBar(128), P=MBar(128))
    agents = {"prod": producer(items), "wg1": attend(items), "wg2": convert(items)}
    cur = {k: next(g, None) for k, g in agents.items()}
    at_named = {}
    while any(v is not None for v in cur.values()):
        progress = False
        order = list(cur)
        rng.shuffle(order)
        for k in order:
            ev = cur[k]
            budget = rng.randint(1, 4)
            while ev is not None and budget > 0:
                budget -= 1
                if ev[0] == "arrive":
                    bars[ev[1]].arrive(ev[2])
                elif ev[0] == "wait":
                    if not bars[ev[1]].done(ev[2]):
                        break
                else:
                    other = "wg2" if k == "wg1" else "wg1"
                    if at_named.get(other) is None:
                        at_named[k] = ev[1]
                        break
                    assert at_named[other] == ev[1], ("named barrier order", k, ev, at_named)
                    at_named[other] = at_named[k] = None
                    cur[other] = next(agents[other], None)
                ev = next(agents[k], None)
                cur[k] = ev
                progress = True
        if not progress:
            return f"deadlock: {cur} {at_named}"
    return None


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    rng = random.Random(1)
    for _ in range(runs):
        items = [(rng.randint(0, 2), rng.choice([0, 1, 1, 1]), rng.choice([0, 1, 2, 3, 5]))
                 for _ in range(rng.randint(0, 7))]
        err = run(items, rng)
        if err:
            print("FAIL", items, err)
            return 1
    print(f"PASS: {runs} random item lists (request, rows > 0, n_tiles)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
