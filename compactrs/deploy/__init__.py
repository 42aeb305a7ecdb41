"""Device-side compactrs: the torch-free code that runs a bundle on an on-board computer.

Everything here imports only the standard library, numpy and — lazily, where a model is run — one runtime
(onnxruntime, tensorrt, ...). It imports nothing from the rest of compactrs and never torch, because an
exported bundle carries a copy of this folder as its ``deploy/`` and must work on a device that has neither.
The host (``compactrs.runtime``, ``compactrs.exporter``, ``compactrs.bench``, ``compactrs.cost``) reuses the
same modules instead of keeping copies.

Modules:
    bundle          manifest, sha256 hashes, golden comparison, the one-line error exit of the scripts
    patches         the normalisation contract: raw patches → model inputs (band selection, PCA, mean/std)
    machine         machine description, peak-memory probe, contention detection while timing
    timing          the one timing loop and its statistics (median), interleaved rounds, re-measurement
    runners         the runner interface, the onnxruntime runner (session options in one place), the registry
                    of runtimes (name → runner, required module, install hint, file suffixes, precisions)
    tensorrt_engine TensorRT engine build and inference (one CUDA binding, via ctypes)
    nodeprof        per-node timings of onnxruntime's optimised graph (enable_profiling): the kernels a
                    kernel-level latency profile is fitted on

Scripts (each has ``main()``), runnable three ways:
    python -m compactrs.deploy.verify BUNDLE     (compactrs installed)
    python compactrs/deploy/verify.py BUNDLE     (a source checkout)
    python BUNDLE/deploy/verify.py               (inside a bundle: the bundle's own copy of this folder)
verify, run, bench, build_engine, profile_runner.
"""
