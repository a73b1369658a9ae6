"""Run a model twice in the real jail and print the results as JSON (workers/tests/test_sandbox_gpu.py).

A module of the project, not a file of the test's temp folder: the forkserver re-imports the
main module in the jail, whose uid can read the project but not pytest's private folders.

    python -m workers.tests.jax_jail_driver MODEL.keras INPUTS.npy cpu|gpu-forced
"""
import json
import sys
from pathlib import Path

import numpy as np


def main():
    from workers import sandbox, sandbox_gpu
    model, inputs_path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    inputs = np.load(inputs_path)
    if mode == "gpu-forced":
        # The worker plans GPU mode (as on a GPU host) on a machine without CUDA: the child must
        # try to start it, fail, and grade on the CPU, saying so.
        plan = sandbox_gpu.DevicePlan(mode="gpu", read_only=tuple(
            p for p in sandbox_gpu.DRIVER_READ_ONLY if Path(p).exists()), requested="gpu")
        sandbox_gpu.device_plan = lambda *a, **k: plan
    sandbox.sandbox_warm_up(wait=True)
    runs = []
    for _ in range(2):
        sandbox._wait_spare_ready()
        result = sandbox.run_model_in_sandbox(model_path=Path(model), inputs=inputs,
                                              expected_input_shape=inputs.shape[1:], num_classes=4,
                                              max_params=100_000)
        runs.append({"ok": result.ok, "error": result.error, "device": result.device,
                     "isolation": result.isolation,
                     "predictions": None if result.predictions is None else result.predictions.tolist()})
    sandbox.sandbox_shutdown()
    print("@@RESULT@@" + json.dumps(runs))


if __name__ == "__main__":
    main()
