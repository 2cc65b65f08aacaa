"""Times onnxruntime loading each ONNX model given (an InferenceSession: parse, graph
optimisation, kernel selection), median of RUNS. Prints `name<TAB>milliseconds` per model.

Usage: python onnxruntime_load.py RUNS MODEL.onnx...
"""

import os
import statistics
import sys
import time

import onnxruntime as ort

runs = int(sys.argv[1])
options = ort.SessionOptions()
options.intra_op_num_threads = 1
for path in sys.argv[2:]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        times.append((time.perf_counter() - start) * 1000)
    print(f"{os.path.basename(path)}\t{statistics.median(times):.3f}")
