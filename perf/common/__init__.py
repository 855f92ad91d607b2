"""What every perf report shares.

- :mod:`perf.common.harness`: timing, interleaving, placement, machine facts, tables, ``run_report``;
- :mod:`perf.common.plots`: matplotlib if importable (``pyplot``, ``line_plot``, ``save``);
- :mod:`perf.common.baselines`: the workload class ``Bench`` every system serves, the raw socketpair
  peer and the ``multiprocessing`` Pipe proxy (light: actors import it);
- :mod:`perf.common.actors`: ``Bench`` as fastparl actors (``FpBench``, ``FpAsyncBench``);
- :mod:`perf.common.cpu_scaling`: N actors running a pure-Python loop against ``multiprocessing.Pool(N)``
  (the runtime and cluster reports' CPU scaling section).
"""
