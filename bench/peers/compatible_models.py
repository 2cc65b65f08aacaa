"""Runs SEAM's `queries/compatible-models.rq` on peer SPARQL engines (pyoxigraph, rdflib) over the
data `seam-bench match --peers` exported, and prints one JSON object of median timings.

usage: python compatible_models.py DATA.nt QUERY.rq DEVICES.txt [--rdflib-samples N]
"""

import json
import statistics
import sys
import time


def main() -> None:
    data, query_file, devices_file = sys.argv[1:4]
    rdflib_samples = int(sys.argv[sys.argv.index("--rdflib-samples") + 1]) if "--rdflib-samples" in sys.argv else 3
    query = open(query_file, encoding="utf-8").read()
    devices = [line.strip() for line in open(devices_file, encoding="utf-8") if line.strip()]
    # SEAM predeclares its prefixes; the peers get them in the text.
    prefixes = open(devices_file.replace("devices.txt", "prefixes.rq"), encoding="utf-8").read()
    text = prefixes + query
    out = {}

    import pyoxigraph as ox

    store = ox.Store()
    started = time.perf_counter()
    store.bulk_load(path=data, format=ox.RdfFormat.N_TRIPLES)
    out["pyoxigraph_load_s"] = time.perf_counter() - started
    times = []
    rows = 0
    for iri in devices:
        started = time.perf_counter()
        result = store.query(text, substitutions={ox.Variable("device"): ox.NamedNode(iri)})
        rows += sum(1 for _ in result)
        times.append(time.perf_counter() - started)
    out["pyoxigraph_p50_s"] = statistics.median(times)
    out["pyoxigraph_rows"] = rows

    import rdflib

    graph = rdflib.Graph()
    started = time.perf_counter()
    graph.parse(data, format="nt")
    out["rdflib_load_s"] = time.perf_counter() - started
    times = []
    rows = 0
    for iri in devices[:rdflib_samples]:
        started = time.perf_counter()
        result = graph.query(text, initBindings={"device": rdflib.URIRef(iri)})
        rows += len(list(result))
        times.append(time.perf_counter() - started)
    out["rdflib_p50_s"] = statistics.median(times)
    out["rdflib_rows"] = rows
    out["rdflib_samples"] = len(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
