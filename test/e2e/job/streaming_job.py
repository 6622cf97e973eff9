"""The end-to-end test's Spark Structured Streaming job (test/e2e/): what a team would run on the Spark Operator.

A `rate` source, a small stateful aggregation (a count per key, so a state store is written), a named query, and
no checkpoint location of its own: Spark takes `spark.sql.streaming.checkpointLocation` (set by Tidemark's webhook,
or by the user in the seed scenario) and keeps the query under `<location>/<queryName>`.

It runs until it has completed `--batches` micro-batches, printing one line per batch, then stops the query and
exits 0. A failing query (e.g. a 403 on its checkpoint) prints the error and exits 1.
"""

import argparse
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

PREFIX = "tidemark-e2e:"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=5, help="micro-batches to complete before stopping")
    parser.add_argument("--query-name", default="events")
    parser.add_argument("--rows-per-second", type=int, default=5)
    args = parser.parse_args()

    spark = SparkSession.builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    location = spark.conf.get("spark.sql.streaming.checkpointLocation", "<unset>")
    print(f"{PREFIX} starting query {args.query_name} with checkpoint location {location}", flush=True)

    events = spark.readStream.format("rate").option("rowsPerSecond", args.rows_per_second).load()
    counts = events.groupBy((F.col("value") % 3).alias("key")).count()
    try:
        query = (
            counts.writeStream.queryName(args.query_name)
            .outputMode("update")
            .format("noop")
            .trigger(processingTime="1 second")
            .start()
        )
        seen: set[int] = set()
        while len(seen) < args.batches:
            # awaitTermination raises the query's error if it failed; otherwise it returns after the timeout.
            if query.awaitTermination(0.2):
                print(f"{PREFIX} query {args.query_name} ended before {args.batches} batches", flush=True)
                return 1
            for p in query.recentProgress:
                batch = p["batchId"]
                if batch in seen:
                    continue
                seen.add(batch)
                state = sum(op.get("numRowsTotal", 0) for op in p.get("stateOperators", []))
                print(
                    f"{PREFIX} batch {batch} done: {p['numInputRows']} input rows, {state} state rows, "
                    f"query {p['name']} id {p['id']}",
                    flush=True,
                )
        # Stop between triggers if one comes soon (a batch interrupted half-way is simply redone on restart).
        deadline = time.monotonic() + 2
        while query.status["isTriggerActive"] and time.monotonic() < deadline:
            time.sleep(0.02)
        query.stop()
        print(f"{PREFIX} stopped after batches {min(seen)}..{max(seen)}", flush=True)
        return 0
    except Exception as err:  # noqa: BLE001 - the point is to show the user's error, whatever it is
        print(f"{PREFIX} query {args.query_name} failed: {type(err).__name__}: {err}", flush=True)
        return 1
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
